// The local meeting page behind a room's guest_url and host_url (--local-links): type a
// name and join, see who else is there, leave. Joining goes through the meeting link's
// own endpoint, which recognises the host by the link's participant token; leaving and
// admitting are the control plane's, in the tenant that holds the room.

import { call, el, follow, setConnection, showMessage, timeText } from "./dom.js";
import { DEFAULT_TENANT, tenantPath } from "./tenants.js";

const page = document.body.dataset;
const roomId = page.roomId;
const here = (path) => tenantPath(path, page.tenant || DEFAULT_TENANT);
const $ = (id) => document.getElementById(id);

let me = null; // the participant this page joined as
let seen = false; // whether a snapshot has shown `me` yet
let snapshot = null;

$("room-name").textContent = page.displayName;
document.title = `${page.displayName} · meeting ${page.meetingCode}`;

const intro = {
  host: "You are the host of this meeting: your link carries the room's host token.",
  rejected: "This link's participant token is not this room's host token: you join as a guest.",
  none: "You join as a guest.",
};
$("who-you-are").textContent =
  `Meeting ${page.meetingCode}. ${intro[page.token] ?? intro.none}` +
  (page.available === "true" ? "" : " This room is no longer available.");

function participantPath(person, action = "") {
  return here(
    `/_emulator/rooms/${encodeURIComponent(roomId)}` +
      `/participants/${encodeURIComponent(person.participant_id)}${action}`,
  );
}

function showLobby(text) {
  me = null;
  seen = false;
  $("lobby").hidden = false;
  $("inside").hidden = true;
  if (text) showMessage(text, "info");
}

$("join").addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = event.currentTarget.elements.name.value.trim();
  if (!name) return;
  const body = { name };
  if (page.participantToken) body.participant_token = page.participantToken;
  try {
    me = await call(
      "POST",
      `/_emulator/meet/${encodeURIComponent(page.meetingCode)}/participants`,
      body,
    );
    seen = false;
    showMessage("");
    $("lobby").hidden = true;
    $("inside").hidden = false;
    render();
  } catch (problem) {
    showMessage(problem.message);
  }
});

$("leave").addEventListener("click", async () => {
  if (!me) return;
  try {
    await call("DELETE", participantPath(me));
    showLobby("You left the meeting.");
    render();
  } catch (problem) {
    showMessage(problem.message);
  }
});

// Closing the tab is leaving the meeting.
window.addEventListener("pagehide", () => {
  if (me) fetch(participantPath(me), { method: "DELETE", keepalive: true }).catch(() => {});
});

function admit(person) {
  call("POST", participantPath(person, "/admit")).catch((problem) => showMessage(problem.message));
}

function personItem(person, waiting) {
  const mine = me && person.participant_id === me.participant_id;
  const canAdmit = waiting && me?.is_host && !mine && me.state === "joined";
  return el(
    "li",
    { class: mine ? "person me" : "person", dataset: { participantId: person.participant_id } },
    el("span", { class: "name" }, person.name),
    person.is_host ? el("span", { class: "badge host" }, "host") : null,
    mine ? el("span", { class: "badge you" }, "you") : null,
    el(
      "span",
      { class: "meta" },
      waiting
        ? `waiting for ${person.waiting_for} since ${timeText(person.arrived_at)}`
        : `joined ${timeText(person.joined_at)}`,
    ),
    canAdmit ? el("button", { type: "button", on: { click: () => admit(person) } }, "Admit") : null,
  );
}

const waitingFor = { host: "the host to join", approval: "a host to admit you" };

function render() {
  if (!snapshot) return;
  const room = snapshot.rooms[0];
  const joined = room?.session?.participants ?? [];
  const waiting = room?.waiting ?? [];
  $("participants").replaceChildren(
    ...(joined.length
      ? joined.map((p) => personItem(p, false))
      : [el("li", { class: "empty" }, "Nobody yet.")]),
  );
  $("waiting").replaceChildren(
    ...(waiting.length
      ? waiting.map((p) => personItem(p, true))
      : [el("li", { class: "empty" }, "Nobody.")]),
  );
  if (!me) return;
  const inside = joined.find((p) => p.participant_id === me.participant_id);
  const queued = waiting.find((p) => p.participant_id === me.participant_id);
  if (inside || queued) {
    seen = true;
    me = inside ?? queued;
    $("your-state").textContent = inside
      ? `You are in the meeting as ${me.name}${me.is_host ? " (host)" : ""}.`
      : `You are waiting, as ${me.name}, for ${waitingFor[me.waiting_for] ?? "a host"}.`;
  } else if (seen) {
    showLobby("You are no longer in the meeting.");
  } else {
    $("your-state").textContent = `Joining as ${me.name}…`;
  }
}

follow(
  here(`/_emulator/events?${new URLSearchParams({ room_id: roomId })}`),
  (next) => {
    snapshot = next;
    document.body.dataset.version = next.version;
    render();
  },
  setConnection,
);
