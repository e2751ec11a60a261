"""What a running emulator is configured with; the command line and environment fill it."""

from __future__ import annotations

from dataclasses import dataclass

from meetings_emulator.domain.dialin import DEFAULT_DIAL_IN_NUMBERS
from meetings_emulator.domain.outbox import DEFAULT_MAX_PENDING
from meetings_emulator.domain.rooms import DEFAULT_MAX_ROOMS
from meetings_emulator.domain.themes import DEFAULT_MAX_THEMES

DEFAULT_LINKS_BASE = "https://meetings.vonage.com"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_REQUEST_TIMEOUT = 10.0
DEFAULT_KEEP_ALIVE_TIMEOUT = 5.0
DEFAULT_ROOM_RETENTION = 86_400.0  # one day of emulator time
LOCAL_MEETING_PATH = "/meet"


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
    max_themes: int = DEFAULT_MAX_THEMES
    # The application the emulator plays (Themes and PATCH /applications show it).
    application_id: str | None = None
    dial_in_numbers: tuple[dict[str, str], ...] = DEFAULT_DIAL_IN_NUMBERS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    recording_upload_delay: float = 5.0  # seconds of emulator time from stop to uploaded
    # Where the emulator can be reached, for links in callbacks (default: http://host:port).
    public_url: str | None = None
    # Application-level callback URLs: one for every kind, or one per kind (which wins).
    callback_url: str | None = None
    rooms_callback_url: str | None = None
    sessions_callback_url: str | None = None
    recordings_callback_url: str | None = None
    callback_secret: str | None = None
    # How callbacks are signed: none, hmac, vonage or standard (signing.py); None: hmac
    # when there is a secret, else none.
    callback_signing: str | None = None
    callback_max_attempts: int = 8  # 1 s doubling: 1-2 minutes of clock time in all
    callback_base_delay: float = 1.0  # seconds of emulator time before the first retry
    callback_timeout: float = 5.0  # seconds of real time for one attempt
    shutdown_grace: float = 5.0  # seconds of real time for a last attempt at what is pending
    # Callbacks not yet delivered nor given up, at most; past it the oldest are given up.
    max_pending_callbacks: int = DEFAULT_MAX_PENDING
    # Seconds of emulator time an expired or deleted room stays readable; then it is gone.
    room_retention: float = DEFAULT_ROOM_RETENTION
    # Seconds of real time a connection has to send a whole request (from its first byte,
    # or from being opened), and an event stream's reader to take each message.
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    # Seconds of real time an idle kept-alive connection stays open between requests.
    keep_alive_timeout: float = DEFAULT_KEEP_ALIVE_TIMEOUT
    log_level: str = "info"
    # "shared": every caller sees one set of rooms and themes (the default);
    # "isolated": each api key (Basic) or application id (JWT) has its own.
    tenancy: str = "shared"
    # Named tenants: {"name", "api_key"?, "application_id"?} each; a key and an application
    # listed together share one tenant, in either mode.
    tenants: tuple[dict[str, str], ...] = ()
    # The tenant these settings are for, when it was made in the control plane (set by
    # `Tenancy`, never by an option): links to the emulator's own files name it.
    tenant_name: str | None = None
    # Where state is loaded from at start and saved to at shutdown and on request.
    state_file: str | None = None
    # When set, the control plane (/_emulator/...) needs `Authorization: Bearer <token>`.
    control_token: str | None = None
    # Host names requests may name besides the loopback names, any IP address, `host` and
    # `public_url`'s host (DNS rebinding): exact names, `*.domain`, or `*` for any host.
    allowed_hosts: tuple[str, ...] = ()
    # Rooms' guest and host links open the emulator's own meeting page (under /meet).
    local_links: bool = False
    # The CA that signed the emulator's certificate, when it serves HTTPS (see tls.py).
    tls_ca_pem: str | None = None

    @property
    def links_base(self) -> str:
        if self.local_links:
            return self.own_url + LOCAL_MEETING_PATH
        return self.base_url.rstrip("/")

    @property
    def own_url(self) -> str:
        """The emulator's own address, as callbacks name it."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        host = f"[{host}]" if ":" in host else host
        scheme = "https" if self.tls_ca_pem else "http"
        return f"{scheme}://{host}:{self.port}"
