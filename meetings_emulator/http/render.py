"""Domain objects as the live API's JSON: field names, order, nulls and defaults as it sent them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from meetings_emulator.domain.isotime import format_iso
from meetings_emulator.domain.models import Page, Participant, Recording, Room, Session
from meetings_emulator.domain.outbox import CallbackConfig, Delivery
from meetings_emulator.domain.themes import Application, Theme


def room_json(
    room: Room, links_base: str, short_url: str | None = None, host_token: str | None = None
) -> dict[str, Any]:
    """A room; with a theme's `short_company_url`, the links go through it. `host_token` is
    the host link's participant token as of this read (`Rooms.host_token`); without it, the
    one issued last."""
    settings = room.settings
    features = settings.available_features
    code = room.meeting_code
    if short_url:
        links_base = f"{links_base}/{short_url}"
    if host_token is None:
        host_token = room.host_token
    body: dict[str, Any] = {
        "id": room.id,
        "display_name": settings.display_name,
        "metadata": settings.metadata,
        "type": str(settings.type),
        "expires_at": format_iso(room.expires_at),
        "recording_options": {
            "auto_record": settings.recording_options.auto_record,
            "record_only_owner": settings.recording_options.record_only_owner,
        },
        "meeting_code": code,
        "_links": {
            "host_url": {
                "href": f"{links_base}/?room_token={code}&participant_token={host_token}"
            },
            "guest_url": {"href": f"{links_base}/{code}"},
        },
        "created_at": room.created_at_text,
        "is_available": room.is_available,
        "expire_after_use": settings.expire_after_use,
        "theme_id": settings.theme_id,
        "initial_join_options": {"microphone_state": str(settings.microphone_state)},
        "join_approval_level": str(settings.join_approval_level),
        "ui_settings": {"language": settings.language},
        "available_features": {
            "is_recording_available": features.is_recording_available,
            "is_chat_available": features.is_chat_available,
            "is_whiteboard_available": features.is_whiteboard_available,
            "is_locale_switcher_available": features.is_locale_switcher_available,
            "is_captions_available": features.is_captions_available,
        },
    }
    if settings.callback_urls is not None:
        body["callback_urls"] = dict(settings.callback_urls)
    return body


def page_json(
    page: Page,
    room: Callable[[Room], dict[str, Any]],
    collection_url: str,
    *,
    page_size: int,
    start_id: int | None,
    end_id: int | None,
) -> dict[str, Any]:
    """A listing page as the live service wrote one: `page_size` as asked, `total_items` the
    whole listing, `self` starting at the page's first room, `prev` and `next` on every page
    that has rooms."""

    def href(start: int | None, end: int | None) -> dict[str, str]:
        query: dict[str, int] = {"page_size": page_size}
        if start is not None:
            query["start_id"] = start
        if end is not None:
            query["end_id"] = end
        return {"href": f"{collection_url}?{urlencode(query)}"}

    first_serial = page.items[0].serial if page.items else start_id
    links = {"first": href(None, end_id), "self": href(first_serial, end_id)}
    if page.prev_start_id is not None or page.prev_end_id is not None:
        links["prev"] = href(page.prev_start_id, page.prev_end_id)
    if page.next_start_id is not None:
        links["next"] = href(page.next_start_id, end_id)
    return {
        "page_size": page_size,
        "total_items": page.total_items,
        "_embedded": [room(item) for item in page.items],
        "_links": links,
    }


def recording_json(recording: Recording, download_url: str) -> dict[str, Any]:
    return {
        "id": recording.id,
        "session_id": recording.session_id,
        "started_at": format_iso(recording.started_at),
        "ended_at": _optional_iso(recording.ended_at),
        "status": str(recording.status),
        "_links": {"url": {"href": download_url}},
    }


def _optional_iso(instant: datetime | None) -> str | None:
    return None if instant is None else format_iso(instant)


def participant_json(participant: Participant) -> dict[str, Any]:
    return {
        "participant_id": participant.id,
        "room_id": participant.room_id,
        "session_id": participant.session_id,
        "name": participant.name,
        "type": participant.type,
        "is_host": participant.is_host,
        "state": str(participant.state),
        "waiting_for": None if participant.waiting_for is None else str(participant.waiting_for),
        "arrived_at": format_iso(participant.arrived_at),
        "joined_at": _optional_iso(participant.joined_at),
        "left_at": _optional_iso(participant.left_at),
    }


def room_meeting_json(
    room: Room,
    session: Session | None,
    waiting: list[Participant],
    download_url: Callable[[Recording], str],
    recordings: list[Recording],
) -> dict[str, Any]:
    """A room's meeting as the control plane shows it: the live session (or null) and the
    waiting room."""
    return {
        "room_id": room.id,
        "is_available": room.is_available,
        "session": None
        if session is None
        else {
            "session_id": session.id,
            "started_at": format_iso(session.started_at),
            "participants": [participant_json(p) for p in session.participants.values()],
            "recordings": [recording_json(r, download_url(r)) for r in recordings],
        },
        "waiting": [participant_json(p) for p in waiting],
    }


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """One entry of the callback delivery log."""
    return {
        "id": delivery.id,
        "event": delivery.event,
        "room_id": delivery.room_id,
        "url": delivery.url,
        "status": str(delivery.status),
        "payload": delivery.payload,
        "headers": delivery.headers,
        "created_at": format_iso(delivery.created_at),
        "next_attempt_at": _optional_iso(delivery.next_attempt_at),
        "finished_at": _optional_iso(delivery.finished_at),
        "attempts": [
            {
                "at": format_iso(attempt.at),
                "status_code": attempt.status_code,
                "error": attempt.error,
                "latency_ms": attempt.latency_ms,
            }
            for attempt in delivery.attempts
        ],
    }


def callback_config_json(config: CallbackConfig) -> dict[str, Any]:
    return {
        "url": config.url,
        "rooms_url": config.rooms_url,
        "sessions_url": config.sessions_url,
        "recordings_url": config.recordings_url,
        "secret_set": config.secret is not None,
        "signing": str(config.profile),
        "max_attempts": config.max_attempts,
        "base_delay": config.base_delay,
        "timeout": config.timeout,
    }


def theme_json(theme: Theme, logo_url: Callable[[str], str]) -> dict[str, Any]:
    """A theme in the live field order; `logo_url` turns a logo's storage key into its link."""
    logos = theme.logos
    return {
        "theme_id": theme.theme_id,
        "theme_name": theme.theme_name,
        "domain": theme.domain,
        "account_id": theme.account_id,
        "application_id": theme.application_id,
        "main_color": theme.main_color,
        "short_company_url": theme.short_company_url,
        "brand_text": theme.brand_text,
        "brand_image_colored": logos.get("colored"),
        "brand_image_white": logos.get("white"),
        "branded_favicon": logos.get("favicon"),
        "brand_image_white_url": logo_url(logos["white"]) if "white" in logos else None,
        "brand_image_colored_url": logo_url(logos["colored"]) if "colored" in logos else None,
        "branded_favicon_url": logo_url(logos["favicon"]) if "favicon" in logos else None,
    }


def application_json(application: Application) -> dict[str, Any]:
    return {
        "application_id": application.application_id,
        "account_id": application.account_id,
        "default_theme_id": application.default_theme_id,
    }
