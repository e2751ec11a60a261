"""Each event as the JSON body of the callback the live API sent for it.

Fields, names and types follow the documented payloads: `event` plus, per event,

    room:expired                    room_id, room_type, expires_at, created_at
    session:started                 session_id, room_id, started_at
    session:ended                   session_id, room_id, started_at, ended_at
    session:participant:joined/left participant_id, session_id, room_id, name, type, is_host
    recording:started               recording_id, session_id
    recording:ended                 recording_id, session_id, started_at, ended_at, duration
    recording:uploaded              recording_id, session_id, room_id, started_at, ended_at,
                                    duration, url

Times are ISO-8601 UTC with milliseconds; `duration` is whole seconds.
"""

from __future__ import annotations

from typing import Any

from meetings_emulator.domain.events import (
    Event,
    ParticipantJoined,
    ParticipantLeft,
    RecordingEnded,
    RecordingStarted,
    RecordingUploaded,
    RoomExpired,
    SessionEnded,
    SessionStarted,
)
from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.models import Recording

# Which application URL each event goes to, by the first part of its name.
KINDS = {"room": "rooms", "session": "sessions", "recording": "recordings"}

# Where the emulator serves a recording's file, relative to its own address.
RECORDING_DOWNLOAD_PATH = "/_emulator/recordings/{recording_id}/archive.mp4"


def kind_of(event: Event) -> str:
    return KINDS[event.name.split(":", 1)[0]]


def download_path(recording_id: str, tenant: str | None = None) -> str:
    """Where the emulator serves a recording's file; a tenant made in the control plane
    is named in its query, as the control plane finds a tenant's recordings there."""
    path = RECORDING_DOWNLOAD_PATH.format(recording_id=recording_id)
    return path if tenant is None else f"{path}?tenant={tenant}"


def payload(event: Event, own_url: str, tenant: str | None = None) -> dict[str, Any]:
    """The callback body for `event`; `own_url` is where the emulator serves recordings."""
    body: dict[str, Any] = {"event": event.name}
    match event:
        case RoomExpired(room=room):
            body |= {
                "room_id": room.id,
                "room_type": str(room.type),
                "expires_at": format_iso(room.expires_at),
                "created_at": room.created_at_text,
            }
        case SessionStarted(session=session):
            body |= {
                "session_id": session.id,
                "room_id": session.room_id,
                "started_at": format_iso(session.started_at),
            }
        case SessionEnded(session=session, at=at):
            body |= {
                "session_id": session.id,
                "room_id": session.room_id,
                "started_at": format_iso(session.started_at),
                "ended_at": format_iso(session.ended_at or at),
            }
        case (
            ParticipantJoined(session=session, participant=person)
            | ParticipantLeft(session=session, participant=person)
        ):
            body |= {
                "participant_id": person.id,
                "session_id": session.id,
                "room_id": session.room_id,
                "name": person.name,
                "type": person.type,
                "is_host": person.is_host,
            }
        case RecordingStarted(recording=recording):
            body |= {"recording_id": recording.id, "session_id": recording.session_id}
        case RecordingEnded(recording=recording):
            body |= {"recording_id": recording.id, "session_id": recording.session_id}
            body |= _span(recording)
        case RecordingUploaded(recording=recording):
            body |= {
                "recording_id": recording.id,
                "session_id": recording.session_id,
                "room_id": recording.room_id,
            }
            body |= _span(recording)
            body["url"] = own_url + download_path(recording.id, tenant)
        case _:
            raise TypeError(f"no callback payload for {event.name}")
    return body


def _span(recording: Recording) -> dict[str, Any]:
    assert recording.ended_at is not None
    return {
        "started_at": format_iso(recording.started_at),
        "ended_at": format_iso(recording.ended_at),
        "duration": recording.duration,
    }
