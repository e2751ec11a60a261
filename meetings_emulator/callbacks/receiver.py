"""A callback receiver for demos and tests: `meetings-emulator receiver --port 9020`.

It accepts every POST, answers 204 (as the live API expected of receivers), and prints one
line per event, e.g.

    10:02:13.250  session:participant:joined  room 3f9c0a1e  Avital (host) joined 2_MX4xMjM0NTY3...

With `--secret` it checks each signature, in whichever profile the callback carries (hmac,
vonage or standard; times are not checked, as the emulator's clock may have been moved),
and says so on the line; with `--json` it also prints each payload. Tests use
`create_receiver` with an `Inbox` to read what arrived, and a `respond` function to answer
as a failing receiver would.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import unquote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from meetings_emulator.domain.clock import utc_now
from meetings_emulator.domain.outbox import METADATA_HEADER
from meetings_emulator.domain.signing import (
    SIGNATURE_HEADER,
    signature,
    standard_key,
    standard_signature,
)


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return str(self.payload.get("event"))


@dataclass
class Inbox:
    """What a receiver has been sent, in arrival order; safe to read from another thread."""

    received: list[Received] = field(default_factory=list)
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    def add(self, item: Received) -> None:
        with self._arrived:
            self.received.append(item)
            self._arrived.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until at least `count` callbacks have arrived; return them all."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    @property
    def events(self) -> list[str]:
        return [item.event for item in self.received]


Responder = Callable[[Received], int]


def describe(payload: dict[str, Any]) -> str:
    """One short line about an event, for people watching a meeting go by."""
    event = str(payload.get("event", "?"))
    room = str(payload.get("room_id") or "")[:8]
    session = str(payload.get("session_id") or "")
    short = session[:18] + "..." if len(session) > 21 else session
    recording = str(payload.get("recording_id") or "")[:8]
    match event:
        case "room:expired":
            text = f"{payload.get('room_type')} room expired (created {payload.get('created_at')})"
        case "session:started":
            text = f"session {short} started"
        case "session:ended":
            span = f"{payload.get('started_at')} to {payload.get('ended_at')}"
            text = f"session {short} ended ({span})"
        case "session:participant:joined" | "session:participant:left":
            role = " (host)" if payload.get("is_host") else ""
            verb = "joined" if event.endswith("joined") else "left"
            text = f"{payload.get('name')}{role} {verb} {short}"
        case "recording:started":
            text = f"recording {recording} started in {short}"
        case "recording:ended":
            text = f"recording {recording} ended, {payload.get('duration')} s"
        case "recording:uploaded":
            text = f"recording {recording} uploaded: {payload.get('url')}"
        case _:
            text = json.dumps(payload)
    where = f"room {room}  " if room else ""
    return f"{event:<27} {where}{text}"


# The largest callback body the receiver takes; past it, it answers 413 and keeps nothing.
MAX_BODY_BYTES = 1024 * 1024


def create_receiver(
    out: TextIO | None = None,
    *,
    inbox: Inbox | None = None,
    secret: str | None = None,
    show_json: bool = False,
    respond: Responder | None = None,
) -> Starlette:
    """A Starlette app that takes callbacks on any path."""

    async def receive(request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:  # chunked or not: no callback is this large
                return Response(status_code=413)
        item = Received(request.url.path, dict(request.headers), bytes(body))
        if inbox is not None:
            inbox.add(item)
        status = respond(item) if respond is not None else 204
        if out is not None:
            out.write(_line(item, secret, show_json) + "\n")
            out.flush()
        return Response(status_code=status)

    return Starlette(routes=[Route("/{path:path}", receive, methods=["POST"])])


def _line(item: Received, secret: str | None, show_json: bool) -> str:
    now = utc_now()
    stamp = f"{now:%H:%M:%S}.{now.microsecond // 1000:03d}"
    try:
        payload = item.payload
    except ValueError:
        return f"{stamp}  (not JSON: {item.body[:80]!r})"
    line = f"{stamp}  {describe(payload)}"
    metadata = item.headers.get(METADATA_HEADER.lower())
    if metadata is not None:
        line += f"  [metadata: {unquote(metadata)}]"
    if secret is not None:
        line += "  [signature ok]" if signed(item, secret) else "  [BAD SIGNATURE]"
    if show_json:
        line += "\n" + json.dumps(payload, indent=2)
    return line


def signed(item: Received, secret: str) -> bool:
    """Whether the callback's signature, in the profile its headers show, is good."""
    headers, body = item.headers, item.body
    if "webhook-signature" in headers:  # standard
        key = standard_key(secret)
        callback_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp")
        if key is None or timestamp is None or not timestamp.isdigit():
            return False
        expected = standard_signature(key, callback_id, int(timestamp), body)
        sent = headers["webhook-signature"].split(" ")
        return any(hmac.compare_digest(expected.encode(), one.encode()) for one in sent)
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme == "Bearer":  # vonage: an HS256 JWT whose payload_hash is the body's
        signing_input, _, mac = token.rpartition(".")
        expected = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        try:
            good = hmac.compare_digest(_unb64url(mac), expected)
            claims = json.loads(_unb64url(signing_input.partition(".")[2]))
        except (binascii.Error, ValueError):
            return False
        hashed = claims.get("payload_hash") if isinstance(claims, dict) else None
        return good and hashed == hashlib.sha256(body).hexdigest()
    sent = headers.get(SIGNATURE_HEADER.lower(), "")
    return hmac.compare_digest(sent.encode(), signature(secret, body).encode())


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main_receiver(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="meetings-emulator receiver",
        description="Print every callback it is sent, one line per event; answers 204.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9020)
    parser.add_argument("--secret", help="check each signature with this secret")
    parser.add_argument("--json", action="store_true", help="also print each payload")
    args = parser.parse_args(list(argv))
    print(f"receiver listening on http://{args.host}:{args.port}/ (Ctrl+C to stop)", flush=True)
    app = create_receiver(sys.stdout, secret=args.secret, show_json=args.json)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    _QuietStop(config).run()
    return 0


class _QuietStop(uvicorn.Server):
    """Ctrl-C and SIGTERM stop it with exit status 0 (uvicorn would raise the signal
    again once stopped: a KeyboardInterrupt traceback); a second one stops it at once."""

    def handle_exit(self, sig: int, frame: object) -> None:
        self.force_exit = self.should_exit
        self.should_exit = True
