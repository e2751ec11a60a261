"""What a running emulator is configured with; the command line and environment fill it."""

from __future__ import annotations

from dataclasses import dataclass

from .rooms import DEFAULT_MAX_ROOMS

DEFAULT_LINKS_BASE = "https://meetings.vonage.com"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9010
    base_url: str = DEFAULT_LINKS_BASE
    api_key: str | None = None
    api_secret: str | None = None
    public_key: str | None = None
    seed: int | None = None
    max_rooms: int = DEFAULT_MAX_ROOMS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    recording_upload_delay: float = 5.0  # seconds of emulator time from stop to uploaded
    log_level: str = "info"

    @property
    def links_base(self) -> str:
        return self.base_url.rstrip("/")
