"""The emulator's own control plane, under `/_emulator`: health, the clock, reset, the
simulator (people, recordings) and the callback log.

None of this existed on the live API. It needs no credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.formparsers import FormParser, MultiPartParser
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute

from meetings_emulator import statefile
from meetings_emulator.domain import snapshot
from meetings_emulator.domain.clock import ClockError
from meetings_emulator.domain.errors import ConflictError, InputValidationError, NotFoundError
from meetings_emulator.domain.isotime import format_iso, parse_iso
from meetings_emulator.domain.logos import CONTENT_TYPE as LOGO_TYPE
from meetings_emulator.domain.logos import LOGO_PATH, MAX_UPLOAD_BYTES, UPLOAD_PATH, S3Error
from meetings_emulator.domain.models import RecordingStatus
from meetings_emulator.domain.outbox import (
    FINISHED,
    KEEP_DELIVERIES,
    Delivery,
    DeliveryStatus,
    Outbox,
)
from meetings_emulator.domain.payloads import RECORDING_DOWNLOAD_PATH
from meetings_emulator.http import openapi
from meetings_emulator.http.media import RECORDING_MP4_TYPE, recording_mp4
from meetings_emulator.http.render import (
    callback_config_json,
    delivery_json,
    participant_json,
    recording_json,
    room_meeting_json,
)
from meetings_emulator.http.requests import emulator_of, read_json, recording_url
from meetings_emulator.http.responses import CONTENT_TYPE as JSON_TYPE
from meetings_emulator.http.responses import json_response
from meetings_emulator.http.routing import method_route
from meetings_emulator.http.schemas import (
    parse_callback_config,
    parse_participant,
    parse_recording_start,
)
from meetings_emulator.http.waiting import WAIT_KEYS, parse_wait
from meetings_emulator.version import __version__

MAX_ADVANCE = timedelta(days=366 * 10)
CLOCK_KEYS = ("advance_seconds", "now", "frozen")
# `tenant` picks whose log it is (the middleware reads it).
CALLBACK_FILTERS = ("room_id", "event", "status", "tenant")


def _clock_json(request: Request) -> dict[str, Any]:
    emulator = emulator_of(request)
    return {"now": format_iso(emulator.now()), "frozen": emulator.clock.frozen}


async def health(request: Request) -> Response:
    emulator = emulator_of(request)
    return json_response(
        {
            "status": "ok",
            "version": __version__,
            "now": format_iso(emulator.now()),
            "rooms": len(emulator.rooms),
            "available_rooms": emulator.rooms.available_count,
            "callbacks_dropped": emulator.callbacks.dropped,
        }
    )


async def get_clock(request: Request) -> Response:
    return json_response(_clock_json(request))


async def move_clock(request: Request) -> Response:
    """`{"advance_seconds": n}` or `{"now": ISO}` (never backwards), and optionally `"frozen"`.

    Every transition due on the way happens, in time order, before the answer.
    """
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InputValidationError('"value" must be of type object')
    problems = [f'"{key}" is not allowed' for key in body if key not in CLOCK_KEYS]
    seconds = body.get("advance_seconds")
    if "advance_seconds" in body and (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not 0 <= seconds <= MAX_ADVANCE.total_seconds()
    ):
        problems.append(
            f'"advance_seconds" must be a number from 0 to {int(MAX_ADVANCE.total_seconds())}'
        )
    instant = parse_iso(body["now"]) if "now" in body else None
    if "now" in body and instant is None:
        problems.append('"now" must be a valid date')
    if "now" in body and "advance_seconds" in body:
        problems.append('"now" and "advance_seconds" cannot be used together')
    frozen = body.get("frozen")
    if "frozen" in body and not isinstance(frozen, bool):
        problems.append('"frozen" must be a boolean')
    if problems:
        raise InputValidationError.of(problems)

    emulator = emulator_of(request)
    try:
        if instant is not None:
            emulator.move_to(instant, frozen=frozen)
        elif seconds is not None:
            emulator.advance(timedelta(seconds=seconds))
    except ClockError as problem:
        label = "now" if instant is not None else "advance_seconds"
        raise InputValidationError(f'"{label}" is refused: {problem}') from None
    if frozen is True:
        emulator.clock.freeze()
    elif frozen is False:
        emulator.clock.release()
    logging.getLogger("meetings_emulator.clock").info("clock moved: %s", _clock_json(request))
    return json_response(_clock_json(request))


async def reset(request: Request) -> Response:
    """Forget all state. `{"seed": int}` restarts the id sequence from that seed."""
    body = await read_json(request)
    if not isinstance(body, dict):
        raise InputValidationError('"value" must be of type object')
    problems = [f'"{key}" is not allowed' for key in body if key != "seed"]
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        problems.append('"seed" must be an integer')
    if problems:
        raise InputValidationError.of(problems)
    emulator_of(request).reset(seed)
    return Response(status_code=204)


# -- the simulator: people in rooms, recordings --------------------------------------------


async def join(request: Request) -> Response:
    name, is_host, kind = parse_participant(await read_json(request))
    participant = emulator_of(request).sessions.join(
        request.path_params["room_id"], name, is_host=is_host, type=kind
    )
    return json_response(participant_json(participant), 201)


async def admit(request: Request) -> Response:
    participant = emulator_of(request).sessions.admit(
        request.path_params["room_id"], request.path_params["participant_id"]
    )
    return json_response(participant_json(participant))


async def leave(request: Request) -> Response:
    emulator_of(request).sessions.leave(
        request.path_params["room_id"], request.path_params["participant_id"]
    )
    return Response(status_code=204)


async def room_meeting(request: Request) -> Response:
    sessions = emulator_of(request).sessions
    room = emulator_of(request).rooms.get(request.path_params["room_id"])
    session = sessions.live_session(room.id)
    recordings = sessions.recordings_of(session.id) if session else []
    return json_response(
        room_meeting_json(
            room,
            session,
            sessions.waiting(room.id),
            lambda recording: recording_url(request, recording.id),
            recordings,
        )
    )


async def start_recording(request: Request) -> Response:
    participant_id = parse_recording_start(await read_json(request))
    recording = emulator_of(request).sessions.start_recording(
        request.path_params["session_id"], participant_id
    )
    return json_response(recording_json(recording, recording_url(request, recording.id)), 201)


async def stop_recording(request: Request) -> Response:
    recording = emulator_of(request).sessions.stop_recording(request.path_params["recording_id"])
    return json_response(recording_json(recording, recording_url(request, recording.id)))


async def pause_recording(request: Request) -> Response:
    recording = emulator_of(request).sessions.pause_recording(request.path_params["recording_id"])
    return json_response(recording_json(recording, recording_url(request, recording.id)))


async def resume_recording(request: Request) -> Response:
    recording = emulator_of(request).sessions.resume_recording(request.path_params["recording_id"])
    return json_response(recording_json(recording, recording_url(request, recording.id)))


async def download_recording(request: Request) -> Response:
    """The recording's file: a small MP4, served once the recording is uploaded."""
    recording = emulator_of(request).sessions.recording(request.path_params["recording_id"])
    if recording.status is not RecordingStatus.UPLOADED:
        raise NotFoundError(f"Recording {recording.id} is {recording.status}: not uploaded yet")
    return Response(recording_mp4(), media_type=RECORDING_MP4_TYPE)


async def tls_ca(request: Request) -> Response:
    """The CA to trust for this emulator's HTTPS (only when it serves HTTPS)."""
    ca_pem = emulator_of(request).settings.tls_ca_pem
    if ca_pem is None:
        raise NotFoundError("This emulator serves plain HTTP: there is no CA (start it with --tls)")
    return Response(ca_pem, media_type="application/x-pem-file")


# -- state: export, import, save ---------------------------------------------------------


async def get_snapshot(request: Request) -> Response:
    return json_response(snapshot.export_state(emulator_of(request)))


async def put_snapshot(request: Request) -> Response:
    """Replace all state with a snapshot (as `GET` gave it); the clock never goes back."""
    snapshot.import_state(emulator_of(request), await read_json(request))
    return Response(status_code=204)


async def save_snapshot(request: Request) -> Response:
    """Save the state to the `--state-file` now, atomically."""
    emulator = emulator_of(request)
    path = emulator.settings.state_file
    if path is None:
        raise ConflictError("No state file: start the emulator with --state-file PATH")
    state = snapshot.export_state(emulator)
    # On the saves' own thread: the default executor may be full of long waits (flushes).
    await asyncio.get_running_loop().run_in_executor(statefile.saver(), statefile.save, path, state)
    return json_response(
        {"saved": path, "saved_at": state["saved_at"], "rooms": len(state["rooms"]["rooms"])}
    )


# -- the contract -------------------------------------------------------------------------


async def openapi_yaml(_request: Request) -> Response:
    return Response(openapi.document_text(), media_type="application/yaml")


async def openapi_json(_request: Request) -> Response:
    return Response(openapi.document_json(), media_type=JSON_TYPE)


async def docs(_request: Request) -> Response:
    return HTMLResponse(openapi.docs_page())


# -- the logo bucket: S3 POST-form uploads, and finalized images -------------------------

# Room for the form's other fields around the largest file the policy allows: the most a
# body may hold, announced or chunked. Past it the upload is refused as S3 refuses it.
UPLOAD_BODY_LIMIT = MAX_UPLOAD_BYTES + 64 * 1024
UPLOAD_MAX_PARTS = 50
UPLOAD_FIELD_LIMIT = 16 * 1024


class _InMemoryParts(MultiPartParser):
    """Starlette's multipart parser, keeping file parts in memory: the body it reads stops
    at `UPLOAD_BODY_LIMIT`, so no part is ever spooled to a temporary file."""

    spool_max_size = UPLOAD_BODY_LIMIT


class _BodyTooLarge(Exception):
    pass


async def _bounded_body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it comes, ended by `_BodyTooLarge` past `UPLOAD_BODY_LIMIT`."""
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > UPLOAD_BODY_LIMIT:
            raise _BodyTooLarge()
        yield chunk


async def _read_form(request: Request) -> FormData:
    """The upload's form, multipart or URL-encoded (anything else holds no field), read
    within `UPLOAD_BODY_LIMIT`."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    async with contextlib.aclosing(_bounded_body(request)) as body:
        if media_type == "multipart/form-data":
            return await _InMemoryParts(
                request.headers, body, max_files=UPLOAD_MAX_PARTS, max_fields=UPLOAD_MAX_PARTS
            ).parse()
        if media_type == "application/x-www-form-urlencoded":
            return await FormParser(request.headers, body, max_fields=UPLOAD_MAX_PARTS).parse()
    return FormData()


def _s3_error(error: S3Error) -> Response:
    return Response(error.xml(), status_code=error.status, media_type="application/xml")


async def upload_logo(request: Request) -> Response:
    """A presigned POST, as S3 takes it: the form's fields, then `file`; 204 when stored.

    An `Authorization` header (the Node SDK sends its JWT) is ignored, as the policy is
    what authorizes the upload. A body past `UPLOAD_BODY_LIMIT`, announced or not, is
    refused with S3's `EntityTooLarge` as soon as it passes the limit."""
    logos = emulator_of(request).logos
    declared = request.headers.get("content-length", "")
    try:
        if declared.isdigit() and int(declared) > UPLOAD_BODY_LIMIT:
            raise logos.too_large(int(declared))
        try:
            form = await _read_form(request)
        except _BodyTooLarge:
            raise logos.too_large() from None
        except ClientDisconnect:
            raise
        except Exception:  # the parsers' many ways of saying the form is not one
            raise logos.malformed() from None
        try:
            fields: dict[str, str] = {}
            data = filename = None
            for name, value in form.multi_items():
                if isinstance(value, str):
                    fields[name] = value
                elif name == "file":
                    data = await value.read(UPLOAD_BODY_LIMIT + 1)
                    filename = value.filename
                else:  # the Python SDK sends every field as a file part
                    fields[name] = (await value.read(UPLOAD_FIELD_LIMIT)).decode("utf-8", "replace")
            logos.accept_upload(fields, data, filename)
        finally:
            await form.close()
    except S3Error as error:
        return _s3_error(error)
    return Response(status_code=204)


async def logo_image(request: Request) -> Response:
    key = request.path_params["key"]
    image = emulator_of(request).logos.image(key)
    if image is None:
        return _s3_error(S3Error("NoSuchKey", "The specified key does not exist.", 404))
    return Response(image, media_type=LOGO_TYPE)


# -- callbacks: the delivery log and its configuration ---------------------------------


async def list_callbacks(request: Request) -> Response:
    """The delivery log, oldest first, filtered by `room_id`, `event` and `status`.

    With `wait` or `count`, only the entries that count are listed (see `counted`), with
    `complete`; the answer is held up to `wait` seconds until there are `count` of them."""
    query = request.query_params
    problems = [
        f'"{key}" is not allowed' for key in query if key not in (*CALLBACK_FILTERS, *WAIT_KEYS)
    ]
    wait = parse_wait(query, problems, most=KEEP_DELIVERIES)
    if problems:
        raise InputValidationError.of(problems)
    emulator = emulator_of(request)
    room_id, event, status = query.get("room_id"), query.get("event"), query.get("status")
    if wait is None:
        deliveries = emulator.callbacks.deliveries(room_id=room_id, event=event, status=status)
        return json_response({"deliveries": [delivery_json(d) for d in deliveries]})
    deliveries, complete = await request.app.state.deliveries_changed.wait_for(
        lambda: counted(emulator.callbacks, room_id=room_id, event=event, status=status),
        wait,
        request.receive,
    )
    return json_response(
        {"deliveries": [delivery_json(d) for d in deliveries], "complete": complete}
    )


def counted(
    outbox: Outbox, *, room_id: str | None, event: str | None, status: str | None
) -> list[Delivery]:
    """The entries a `count` counts: those that match and are finished (delivered, failed or
    undelivered), or, when `status` is given, those in that status whatever it is."""
    found = outbox.deliveries(room_id=room_id, event=event, status=status)
    return found if status is not None else [d for d in found if d.status in FINISHED]


async def redeliver(request: Request) -> Response:
    callbacks = emulator_of(request).callbacks
    delivery_id = request.path_params["delivery_id"]
    delivery = callbacks.delivery(delivery_id)
    if delivery is None:
        raise NotFoundError(f"Callback {delivery_id} was not found")
    if delivery.url is None:
        raise ConflictError(f"Callback {delivery_id} has no URL to be delivered to")
    if delivery.status not in FINISHED:
        raise ConflictError(f"Callback {delivery_id} is still {delivery.status}")
    return json_response(delivery_json(callbacks.redeliver(delivery)), 202)


REDELIVER_FILTERS = ("status", "room_id", "event", "tenant")
REDELIVERABLE = (DeliveryStatus.FAILED, DeliveryStatus.DELIVERED)


async def redeliver_all(request: Request) -> Response:
    """Send again every `failed` callback (or `?status=delivered`), of `room_id` and `event`
    when given, oldest first; answer how many."""
    query = request.query_params
    problems = [f'"{key}" is not allowed' for key in query if key not in REDELIVER_FILTERS]
    status = query.get("status", DeliveryStatus.FAILED)
    if status not in REDELIVERABLE:
        problems.append('"status" must be failed or delivered')
    if problems:
        raise InputValidationError.of(problems)
    again = emulator_of(request).callbacks.redeliver_all(
        status=DeliveryStatus(status), room_id=query.get("room_id"), event=query.get("event")
    )
    return json_response({"redelivered": len(again)})


async def flush_callbacks(request: Request) -> Response:
    """Wait (up to `timeout` seconds, default 10) until every callback that can be sent now
    has been; answer with the log's counts and whether it got there."""
    body = await read_json(request)
    timeout = body.get("timeout", 10) if isinstance(body, dict) else None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= 300:
        raise InputValidationError('"timeout" must be a number from 0 to 300')
    callbacks = emulator_of(request).callbacks
    idle = await asyncio.to_thread(callbacks.wait_idle, timeout)
    return json_response({"idle": idle, **callbacks.counts()})


async def get_callback_config(request: Request) -> Response:
    return json_response(callback_config_json(emulator_of(request).callbacks.config))


async def put_callback_config(request: Request) -> Response:
    callbacks = emulator_of(request).callbacks
    changes = parse_callback_config(await read_json(request), callbacks.config)
    callbacks.reconfigure(replace(callbacks.config, **changes))
    return json_response(callback_config_json(callbacks.config))


def routes() -> list[BaseRoute]:
    return [
        method_route("/_emulator/health", {"GET": health}),
        method_route("/_emulator/clock", {"GET": get_clock, "POST": move_clock}),
        method_route("/_emulator/reset", {"POST": reset}),
        method_route("/_emulator/rooms/{room_id}/participants", {"POST": join}),
        method_route("/_emulator/rooms/{room_id}/participants/{participant_id}", {"DELETE": leave}),
        method_route(
            "/_emulator/rooms/{room_id}/participants/{participant_id}/admit", {"POST": admit}
        ),
        method_route("/_emulator/rooms/{room_id}/session", {"GET": room_meeting}),
        method_route("/_emulator/sessions/{session_id}/recordings", {"POST": start_recording}),
        method_route("/_emulator/recordings/{recording_id}/stop", {"POST": stop_recording}),
        method_route("/_emulator/recordings/{recording_id}/pause", {"POST": pause_recording}),
        method_route("/_emulator/recordings/{recording_id}/resume", {"POST": resume_recording}),
        method_route(RECORDING_DOWNLOAD_PATH, {"GET": download_recording}),
        method_route("/_emulator/tls/ca.pem", {"GET": tls_ca}),
        method_route(
            "/_emulator/snapshot", {"GET": get_snapshot, "PUT": put_snapshot, "POST": save_snapshot}
        ),
        method_route("/_emulator/openapi.yaml", {"GET": openapi_yaml}),
        method_route("/_emulator/openapi.json", {"GET": openapi_json}),
        method_route("/_emulator/docs", {"GET": docs}),
        method_route(UPLOAD_PATH, {"POST": upload_logo}),
        method_route(LOGO_PATH.replace("{key}", "{key:path}"), {"GET": logo_image}),
        method_route("/_emulator/callbacks", {"GET": list_callbacks}),
        method_route("/_emulator/callbacks/flush", {"POST": flush_callbacks}),
        method_route("/_emulator/callbacks/redeliver", {"POST": redeliver_all}),
        method_route(
            "/_emulator/callbacks/config", {"GET": get_callback_config, "PUT": put_callback_config}
        ),
        method_route("/_emulator/callbacks/{delivery_id}/redeliver", {"POST": redeliver}),
    ]
