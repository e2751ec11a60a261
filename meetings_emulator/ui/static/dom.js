// Helpers shared by the dashboard and the meeting page.
//
// Everything shown is built from elements and text nodes: no string that came from the
// emulator (a room's name, a participant's name, a callback payload) is ever parsed as
// markup. Links are only followed to http(s) addresses or the emulator's own paths.

export function safeHref(value) {
  const text = String(value ?? "");
  if (text.startsWith("/") && !text.startsWith("//")) return text;
  try {
    const url = new URL(text);
    if (url.protocol === "http:" || url.protocol === "https:") return url.href;
  } catch {
    // not a URL at all
  }
  return "#";
}

// el("li", {class: "x", dataset: {id}, on: {click}}, "text", child, [more, children])
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") {
      for (const [name, handler] of Object.entries(value)) node.addEventListener(name, handler);
    } else if (key === "href") node.setAttribute("href", safeHref(value));
    else if (key === "value") node.value = String(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// A JSON call to the emulator. Resolves to the parsed body (null for 204); rejects with
// an Error carrying the API's own message.
export async function call(method, path, body, headers = {}) {
  const options = { method, headers: { ...headers } };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (problem) {
    throw new Error(`${method} ${path}: the emulator did not answer (${problem.message})`);
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const detail = parsed?.message ?? parsed?.detail ?? (text || response.statusText);
    throw new Error(`${response.status}: ${detail}`);
  }
  return parsed;
}

// Follow the emulator's state stream: onState(snapshot, receivedAt) for each snapshot,
// onStatus(text, live) when the connection changes. A stream whose tenant was dropped is
// closed for good (reconnecting would only get a 404), and onStatus says so.
export function follow(url, onState, onStatus) {
  const source = new EventSource(url);
  source.addEventListener("open", () => onStatus("live", true));
  source.addEventListener("error", () =>
    onStatus(source.readyState === EventSource.CLOSED ? "disconnected" : "reconnecting…", false),
  );
  source.addEventListener("closing", (event) => {
    let reason = null;
    try {
      reason = JSON.parse(event.data).reason;
    } catch {
      reason = null;
    }
    if (reason === "tenant dropped") {
      source.close();
      onStatus("tenant deleted", false);
    } else {
      onStatus("emulator stopped", false);
    }
  });
  source.addEventListener("state", (event) => {
    let snapshot;
    try {
      snapshot = JSON.parse(event.data);
    } catch {
      return;
    }
    onState(snapshot, performance.now());
  });
  return source;
}

// Emulator time now, in ms since the epoch: the snapshot's time, running on in real time
// unless the emulator's clock is frozen.
export function emulatorNow(snapshot, receivedAt) {
  const at = Date.parse(snapshot.now);
  return snapshot.frozen ? at : at + (performance.now() - receivedAt);
}

const pad = (n, width = 2) => String(n).padStart(width, "0");

export function clockText(ms) {
  const d = new Date(ms);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
  );
}

export function timeText(iso) {
  if (!iso) return "–";
  const d = new Date(Date.parse(iso));
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

export function durationText(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${pad(minutes)} min`;
  return `${minutes}:${pad(seconds)}`;
}

export function showMessage(text, kind = "error") {
  const box = document.getElementById("message");
  if (!box) return;
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

export function setConnection(text, live) {
  const badge = document.getElementById("connection");
  if (!badge) return;
  badge.textContent = text;
  badge.classList.toggle("live", live);
  badge.classList.toggle("down", !live);
}
