// The dashboard: renders each snapshot of /_emulator/events, and its buttons call the
// control plane (or the API, to create a room). It holds no state of its own beyond what
// the user is typing, which payloads are unfolded, and which tenant it shows: every
// control-plane call and the stream carry that tenant (see tenants.js).

import {
  call,
  clockText,
  durationText,
  el,
  emulatorNow,
  follow,
  setConnection,
  showMessage,
  timeText,
} from "./dom.js";
import { DEFAULT_TENANT, TenantPicker, basicFor, tenantPath } from "./tenants.js";

let snapshot = null;
let receivedAt = 0;
const typed = new Map(); // input key -> what the user typed, kept across re-renders
const unfolded = new Set(); // delivery ids whose payload is open

const $ = (id) => document.getElementById(id);

// The tenant shown, as the server read it from the page's address.
let tenant = document.body.dataset.tenant || DEFAULT_TENANT;
let source = null; // the open event stream
const here = (path) => tenantPath(path, tenant);

// -- controls -----------------------------------------------------------------------------

async function act(work) {
  try {
    await work();
    showMessage("");
  } catch (problem) {
    showMessage(problem.message);
  }
}

function authorization() {
  return $("authorization").value.trim();
}

$("advance-1m").addEventListener("click", () =>
  act(() => call("POST", here("/_emulator/clock"), { advance_seconds: 60 })),
);
$("advance-10m").addEventListener("click", () =>
  act(() => call("POST", here("/_emulator/clock"), { advance_seconds: 600 })),
);

let resetArmed = null;
$("reset").addEventListener("click", () => {
  const button = $("reset");
  if (resetArmed === null) {
    button.textContent = "Really reset?";
    resetArmed = setTimeout(() => {
      button.textContent = "Reset";
      resetArmed = null;
    }, 4000);
    return;
  }
  clearTimeout(resetArmed);
  resetArmed = null;
  button.textContent = "Reset";
  act(() => call("POST", here("/_emulator/reset"), {}));
});

$("create-room").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const body = {
    display_name: form.elements.display_name.value,
    type: form.elements.type.value,
    join_approval_level: form.elements.join_approval_level.value,
  };
  if (body.type === "long_term") {
    const base = snapshot ? emulatorNow(snapshot, receivedAt) : Date.now();
    body.expires_at = new Date(base + 86400 * 1000).toISOString();
  }
  const headers = authorization() ? { Authorization: authorization() } : {};
  act(() => call("POST", "/v1/meetings/rooms", body, headers));
});

function join(room, isHost) {
  const key = `join:${room.id}`;
  const name = (typed.get(key) ?? "").trim();
  if (!name) {
    showMessage("Type a name first.");
    return;
  }
  act(async () => {
    await call("POST", here(`/_emulator/rooms/${encodeURIComponent(room.id)}/participants`), {
      name,
      is_host: isHost,
    });
    typed.set(key, "");
  });
}

function participantPath(room, person) {
  return here(
    `/_emulator/rooms/${encodeURIComponent(room.id)}` +
      `/participants/${encodeURIComponent(person.participant_id)}`,
  );
}

function leave(room, person) {
  act(() => call("DELETE", participantPath(room, person)));
}

function admit(room, person) {
  const path =
    `/_emulator/rooms/${encodeURIComponent(room.id)}` +
    `/participants/${encodeURIComponent(person.participant_id)}/admit`;
  act(() => call("POST", here(path)));
}

function startRecording(room) {
  const host = room.session.participants.find((person) => person.is_host);
  const body = host ? { participant_id: host.participant_id } : {};
  const path = `/_emulator/sessions/${encodeURIComponent(room.session.session_id)}/recordings`;
  act(() => call("POST", here(path), body));
}

function stopRecording(recording) {
  const path = `/_emulator/recordings/${encodeURIComponent(recording.id)}/stop`;
  act(() => call("POST", here(path)));
}

// -- rendering ----------------------------------------------------------------------------

function input(key, props) {
  return el("input", {
    ...props,
    dataset: { key },
    value: typed.get(key) ?? "",
    on: { input: (event) => typed.set(key, event.target.value) },
  });
}

function availability(room) {
  if (room.is_available) return el("span", { class: "badge ok" }, "available");
  return el("span", { class: "badge off" }, room.unavailable ?? "unavailable");
}

function expiryText(room) {
  if (!room.is_available) {
    return room.unavailable === "deleted" ? "deleted" : `expired at ${timeText(room.expires_at)}`;
  }
  if (room.expiry_held) return "expiry held: meeting in progress";
  const left = Date.parse(room.expires_at) - emulatorNow(snapshot, receivedAt);
  return left > 0 ? `expires in ${durationText(left)}` : "expiring…";
}

function person(room, who, waiting) {
  const tags = [];
  if (who.is_host) tags.push(el("span", { class: "badge host" }, "host"));
  const since = waiting
    ? `waiting for ${who.waiting_for} since ${timeText(who.arrived_at)}`
    : `joined ${timeText(who.joined_at)}`;
  return el(
    "li",
    {
      class: waiting ? "person waiting" : "person joined",
      dataset: { participantId: who.participant_id },
    },
    el("span", { class: "name" }, who.name),
    tags,
    el("span", { class: "meta" }, since),
    waiting
      ? el("button", { type: "button", on: { click: () => admit(room, who) } }, "Admit")
      : null,
    el(
      "button",
      { type: "button", class: "quiet", on: { click: () => leave(room, who) } },
      "Leave",
    ),
  );
}

function recordingItem(recording) {
  const seconds = (Date.parse(recording.ended_at) - Date.parse(recording.started_at)) / 1000;
  const duration = recording.ended_at === null ? "" : ` · ${Math.round(seconds)} s`;
  return el(
    "li",
    { class: `recording ${recording.status}`, dataset: { recordingId: recording.id } },
    el("span", { class: `badge rec-${recording.status}` }, recording.status),
    el("span", { class: "meta" }, `started ${timeText(recording.started_at)}${duration}`),
    el("code", { class: "id" }, recording.id.slice(0, 8)),
    recording.status === "started"
      ? el(
          "button",
          { type: "button", on: { click: () => stopRecording(recording) } },
          "Stop recording",
        )
      : null,
    recording.status === "uploaded"
      ? el("a", { href: here(recording._links.url.href) }, "download")
      : null,
  );
}

// What a room's join_approval_level means for a guest, next to the API's own value.
const APPROVAL = {
  none: "guests join at once",
  after_owner_only: "guests wait for a host",
  explicit_approval: "guests wait to be admitted",
};

function approval(room) {
  const level = room.join_approval_level;
  const meaning = APPROVAL[level];
  return el(
    "span",
    { class: "approval" },
    meaning ? `${meaning} (` : null,
    el("code", {}, `join_approval_level: ${level}`),
    meaning ? ")" : null,
  );
}

function identity(room) {
  return el(
    "p",
    { class: "identity meta" },
    el("span", { class: "code" }, "code ", el("strong", {}, room.meeting_code)),
    el("span", { class: "room-id" }, "id ", el("code", {}, room.id)),
    approval(room),
  );
}

function links(room) {
  if (!room.is_available) {
    // Nobody can join a room that has gone: its links would only answer 409.
    const gone = room.unavailable === "deleted" ? "was deleted" : "has expired";
    return el(
      "p",
      { class: "links gone" },
      `This room ${gone}: nobody can join it, so it has no join links.`,
    );
  }
  const guest = room._links.guest_url.href;
  const host = room._links.host_url.href;
  if (snapshot.emulator.local_links) {
    return el(
      "p",
      { class: "links" },
      el(
        "a",
        { href: guest, target: "_blank", rel: "noopener", class: "guest-link" },
        "open guest link",
      ),
      " · ",
      el(
        "a",
        { href: host, target: "_blank", rel: "noopener", class: "host-link" },
        "open host link",
      ),
    );
  }
  return el(
    "p",
    { class: "links hint" },
    "guest link ",
    el("code", {}, guest),
    " (start the emulator with --local-links to open links here)",
  );
}

function roomCard(room) {
  const session = room.session;
  const recording = room.recordings.find((r) => r.status === "started");
  const joinKey = `join:${room.id}`;
  return el(
    "article",
    {
      class: room.is_available ? "room" : "room gone",
      dataset: { roomId: room.id, meetingCode: room.meeting_code },
    },
    el(
      "header",
      {},
      el("h3", {}, room.display_name),
      el("span", { class: "badge type" }, room.type.replace("_", " ")),
      availability(room),
      el("span", { class: "expiry", dataset: { roomId: room.id } }, expiryText(room)),
    ),
    identity(room),
    links(room),
    el(
      "div",
      { class: "session" },
      session
        ? el(
            "p",
            { class: "session-line" },
            "Session ",
            el("code", { title: session.session_id }, `${session.session_id.slice(0, 14)}…`),
            ` since ${timeText(session.started_at)}`,
          )
        : el("p", { class: "session-line meta" }, "No meeting in progress"),
      session && session.participants.length
        ? el(
            "ul",
            { class: "people" },
            session.participants.map((p) => person(room, p, false)),
          )
        : null,
      room.waiting.length
        ? [
            el("h4", {}, "Waiting"),
            el(
              "ul",
              { class: "people" },
              room.waiting.map((p) => person(room, p, true)),
            ),
          ]
        : null,
    ),
    room.is_available
      ? el(
          "form",
          {
            class: "row join",
            on: {
              submit: (event) => {
                event.preventDefault();
                join(room, false);
              },
            },
          },
          input(joinKey, {
            name: "name",
            placeholder: "Name",
            maxlength: 200,
            "aria-label": "Name",
          }),
          el("button", { type: "submit", class: "join-guest" }, "Join as guest"),
          el(
            "button",
            { type: "button", class: "join-host", on: { click: () => join(room, true) } },
            "Join as host",
          ),
        )
      : null,
    el(
      "div",
      { class: "recordings" },
      session && !recording
        ? el(
            "button",
            { type: "button", class: "start-recording", on: { click: () => startRecording(room) } },
            "Start recording",
          )
        : null,
      room.recordings.length ? el("ul", {}, room.recordings.map(recordingItem)) : null,
    ),
  );
}

function roomName(id) {
  const room = snapshot.rooms.find((r) => r.id === id);
  return room ? room.display_name : `room ${id.slice(0, 8)}`;
}

function attemptsText(delivery) {
  const n = delivery.attempts.length;
  if (n === 0) return delivery.url ? "no attempt yet" : "not sent";
  const answers = delivery.attempts.map((a) => a.status_code ?? a.error ?? "?").join(", ");
  return `${n} attempt${n === 1 ? "" : "s"}: ${answers}`;
}

function deliveryItem(delivery) {
  const details = el(
    "details",
    {
      open: unfolded.has(delivery.id),
      on: {
        toggle: (event) =>
          event.target.open ? unfolded.add(delivery.id) : unfolded.delete(delivery.id),
      },
    },
    el("summary", {}, "payload"),
    el("pre", {}, JSON.stringify(delivery.payload, null, 2)),
  );
  return el(
    "li",
    {
      class: `delivery ${delivery.status}`,
      dataset: { deliveryId: delivery.id, event: delivery.event },
    },
    el(
      "div",
      { class: "line" },
      el("time", {}, timeText(delivery.created_at)),
      el("strong", { class: "event" }, delivery.event),
      el("span", { class: "room-name" }, roomName(delivery.room_id)),
      el("span", { class: `badge status ${delivery.status}` }, delivery.status),
    ),
    el(
      "div",
      { class: "line meta" },
      el("span", { class: "attempts" }, attemptsText(delivery)),
      delivery.next_attempt_at
        ? el("span", { class: "next" }, `next try ${timeText(delivery.next_attempt_at)}`)
        : null,
      el(
        "span",
        { class: "url" },
        delivery.url ? `→ ${delivery.url}` : "no callback URL configured",
      ),
    ),
    details,
  );
}

function render() {
  // Keep the user's place: which input had the focus, and where its cursor was.
  const focused = document.activeElement;
  const focusKey = focused?.dataset?.key;
  const selection = focusKey ? [focused.selectionStart, focused.selectionEnd] : null;

  $("frozen").hidden = !snapshot.frozen;
  const counts = snapshot.counts;
  $("room-counts").textContent =
    `${counts.available_rooms} available of ${counts.rooms}` +
    (counts.shown_rooms < counts.rooms ? ` (latest ${counts.shown_rooms} shown)` : "");
  const callbacks = counts.callbacks;
  $("callback-counts").textContent = Object.entries(callbacks)
    .filter(([, n]) => n > 0)
    .map(([status, n]) => `${n} ${status}`)
    .join(" · ");

  $("rooms").replaceChildren(
    ...(snapshot.rooms.length
      ? snapshot.rooms.map(roomCard)
      : [el("p", { class: "empty" }, "No rooms yet. Create one above, or with the API.")]),
  );
  $("deliveries").replaceChildren(
    ...(snapshot.deliveries.length
      ? snapshot.deliveries.map(deliveryItem)
      : [el("li", { class: "empty" }, "No callbacks yet: each event of a meeting shows here.")]),
  );
  tick();

  if (focusKey) {
    const again = document.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
    if (again) {
      again.focus();
      if (selection) again.setSelectionRange(...selection);
    }
  }
}

// The clock and the countdowns run between snapshots.
function tick() {
  if (!snapshot) return;
  $("now").textContent = clockText(emulatorNow(snapshot, receivedAt));
  for (const node of document.querySelectorAll(".expiry[data-room-id]")) {
    const room = snapshot.rooms.find((r) => r.id === node.dataset.roomId);
    if (room) node.textContent = expiryText(room);
  }
}

// -- the tenant shown ----------------------------------------------------------------------

const DEFAULT_AUTHORIZATION = $("authorization").value;
let filledAuthorization = DEFAULT_AUTHORIZATION; // what the page last put in the field

// The tenant's own credentials in the Authorization field, unless the user typed others.
function fillAuthorization() {
  const info = picker.info();
  if (tenant !== DEFAULT_TENANT && info === null) return; // until the list comes
  const wanted = info === null ? DEFAULT_AUTHORIZATION : basicFor(info);
  const field = $("authorization");
  if (field.value.trim() === filledAuthorization) field.value = wanted;
  filledAuthorization = wanted;
}

function describeTenant() {
  const everyone = tenant === DEFAULT_TENANT;
  document.body.dataset.tenant = tenant;
  document.title = everyone ? "Meetings emulator" : `${tenant} · Meetings emulator`;
  $("reset").title = everyone
    ? "Forget every room, session and callback, in every tenant"
    : `Forget the rooms, sessions and callbacks of tenant ${tenant}`;
}

function onSnapshot(next, at) {
  if ((next.tenant ?? DEFAULT_TENANT) !== tenant) return; // from a stream being left
  if (snapshot === null && next.emulator.credentials_required) {
    $("credentials-box").open = true; // the default credentials will not do
  }
  snapshot = next;
  receivedAt = at;
  document.body.dataset.version = next.version;
  render();
}

function onStatus(text, live) {
  setConnection(text, live);
  if (!live && tenant !== DEFAULT_TENANT) picker.refresh(); // dropped, perhaps
}

function connect() {
  if (source !== null) source.close();
  source = follow(here("/_emulator/events"), onSnapshot, onStatus);
}

function showTenant(name) {
  tenant = name;
  snapshot = null;
  typed.clear();
  unfolded.clear();
  showMessage("");
  $("now").textContent = "-";
  $("frozen").hidden = true;
  $("room-counts").textContent = "";
  $("callback-counts").textContent = "";
  $("rooms").replaceChildren(el("p", { class: "empty" }, "Loading…"));
  $("deliveries").replaceChildren();
  describeTenant();
  fillAuthorization();
  connect();
}

const picker = new TenantPicker($("tenant"), tenant, {
  onPick: showTenant,
  onGone: (name) =>
    showMessage(
      `Tenant ${name} no longer exists (it was deleted): showing the default tenant.`,
      "info",
    ),
});
describeTenant();
connect();
picker.refresh().then(fillAuthorization);
setInterval(tick, 250);
