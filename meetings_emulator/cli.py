"""`meetings-emulator` / `python -m meetings_emulator`: the command line, then uvicorn.

    meetings-emulator [options]              serve the emulator
    meetings-emulator play SCENARIO [...]    play a scripted meeting (see examples/)
    meetings-emulator receiver [--port N]    print the callbacks it is sent

Every option can also come from the environment as `MEETINGS_EMULATOR_<NAME>`
(for example `MEETINGS_EMULATOR_PORT=9010`); a flag on the command line wins.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import uvicorn

from meetings_emulator.app import create_app
from meetings_emulator.domain.settings import Settings
from meetings_emulator.http.tls import make_tls
from meetings_emulator.version import __version__

ENV_PREFIX = "MEETINGS_EMULATOR_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")


def _env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper().replace("-", "_")) or None


def load_dial_in_numbers(path: str | Path) -> tuple[dict[str, str], ...]:
    """Read a JSON array of `{number, locale, display_name}` objects, all strings."""
    data: Any = json.loads(Path(path).read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of dial-in numbers")
    keys = {"number", "locale", "display_name"}
    for n, item in enumerate(data):
        if not isinstance(item, dict) or set(item) != keys:
            raise ValueError(f"{path}: item {n} must have exactly the keys {sorted(keys)}")
        if not all(isinstance(value, str) for value in item.values()):
            raise ValueError(f"{path}: item {n}: every value must be a string")
    return tuple(data)


def build_parser() -> argparse.ArgumentParser:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="meetings-emulator",
        description="A local, in-memory emulator of the Vonage Meetings API.",
        epilog=f"Each option may also be set as an environment variable {ENV_PREFIX}<NAME>.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")

    def option(name: str, help_text: str, *, default: object, kind: type = str) -> None:
        from_env = _env(name)
        parser.add_argument(
            f"--{name}",
            type=kind,
            default=kind(from_env) if from_env is not None else default,
            help=f"{help_text} (env {ENV_PREFIX}{name.upper().replace('-', '_')})",
        )

    option("host", "address to listen on", default=defaults.host)
    option("port", "port to listen on; 0 picks a free one", default=defaults.port, kind=int)
    option("base-url", "base of the rooms' guest and host links", default=defaults.base_url)
    option("api-key", "accept Basic auth only with this api key", default=None)
    option("api-secret", "accept Basic auth only with this api secret", default=None)
    option(
        "public-key",
        "application public key (PEM text or a path to it): JWT signatures are checked",
        default=None,
    )
    option(
        "seed", "seed for ids, meeting codes and tokens (repeatable runs)", default=None, kind=int
    )
    option(
        "max-rooms",
        "available rooms allowed at once (403 beyond)",
        default=defaults.max_rooms,
        kind=int,
    )
    option(
        "public-url",
        "the emulator's address as callbacks should name it (default http://HOST:PORT)",
        default=None,
    )
    option(
        "callback-url", "send every callback here (unless a more specific URL is set)", default=None
    )
    for kind in ("rooms", "sessions", "recordings"):
        option(f"{kind}-callback-url", f"send {kind[:-1]} events here", default=None)
    option(
        "callback-secret", "sign callbacks: HMAC-SHA256 of the body with this secret", default=None
    )
    option(
        "callback-max-attempts",
        "attempts per callback before giving up",
        default=defaults.callback_max_attempts,
        kind=int,
    )
    option(
        "callback-base-delay",
        "seconds (emulator time) before the first retry; doubles",
        default=defaults.callback_base_delay,
        kind=float,
    )
    option(
        "callback-timeout",
        "seconds one callback attempt may take",
        default=defaults.callback_timeout,
        kind=float,
    )
    option(
        "control-token",
        "require `Authorization: Bearer TOKEN` on the control plane (/_emulator/...)",
        default=None,
    )
    option(
        "tenancy",
        "shared: every caller sees the same rooms; isolated: one tenant per api key or"
        " application id",
        default=defaults.tenancy,
    )
    option(
        "tenants",
        'a JSON file of named tenants: [{"name", "api_key"?, "application_id"?}, ...]',
        default=None,
    )
    option(
        "state-file",
        "load state from this file at start; save it there at shutdown and on"
        " POST /_emulator/snapshot",
        default=None,
    )
    option("dial-in-numbers", "a JSON file listing the dial-in numbers to serve", default=None)
    option(
        "recording-upload-delay",
        "seconds of emulator time between a recording's stop and its upload",
        default=defaults.recording_upload_delay,
        kind=float,
    )
    parser.add_argument(
        "--local-links",
        action="store_true",
        default=(_env("local_links") or "").lower() in ("1", "true", "yes"),
        help="rooms' links open the emulator's own meeting page (<public url>/meet/...)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        default=(_env("tls") or "").lower() in ("1", "true", "yes"),
        help=f"serve HTTPS with a certificate from a local CA (env {ENV_PREFIX}TLS=1)",
    )
    option("tls-ca-out", "with --tls: write the CA certificate (PEM) to this file", default=None)
    option("log-level", f"one of {', '.join(LOG_LEVELS)}", default=defaults.log_level)
    return parser


def load_tenants(path: str) -> tuple[dict[str, str], ...]:
    """Named tenants from a JSON array of `{"name", "api_key"?, "application_id"?}`."""
    data = json.loads(Path(path).read_text())
    allowed = {"name", "api_key", "application_id"}
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON array of tenants")
    for n, item in enumerate(data):
        if (
            not isinstance(item, dict)
            or "name" not in item
            or not set(item) <= allowed
            or not all(isinstance(value, str) and value for value in item.values())
        ):
            raise ValueError(
                f"{path}: tenant {n} must be an object with a name and, optionally, an"
                " api_key and an application_id (non-empty strings)"
            )
    return tuple(data)


def settings_from(args: argparse.Namespace) -> Settings:
    public_key = args.public_key
    if public_key and "-----BEGIN" not in public_key:
        public_key = Path(public_key).read_text()
    files: dict[str, Any] = {}
    if args.dial_in_numbers:
        files["dial_in_numbers"] = load_dial_in_numbers(args.dial_in_numbers)
    if args.tenants:
        files["tenants"] = load_tenants(args.tenants)
    if args.tenancy not in ("shared", "isolated"):
        raise ValueError("--tenancy must be shared or isolated")
    return Settings(
        **files,
        tenancy=args.tenancy,
        host=args.host,
        port=args.port,
        base_url=args.base_url,
        api_key=args.api_key,
        api_secret=args.api_secret,
        public_key=public_key,
        seed=args.seed,
        max_rooms=args.max_rooms,
        recording_upload_delay=args.recording_upload_delay,
        public_url=args.public_url,
        local_links=args.local_links,
        control_token=args.control_token,
        state_file=args.state_file,
        callback_url=args.callback_url,
        rooms_callback_url=args.rooms_callback_url,
        sessions_callback_url=args.sessions_callback_url,
        recordings_callback_url=args.recordings_callback_url,
        callback_secret=args.callback_secret,
        callback_max_attempts=args.callback_max_attempts,
        callback_base_delay=args.callback_base_delay,
        callback_timeout=args.callback_timeout,
        log_level=args.log_level.lower(),
    )


class _Server(uvicorn.Server):
    """uvicorn, announcing the address once the socket is bound (useful with --port 0)."""

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[override]
        await super().startup(sockets)
        # What start-up made (modules, classes, functions: most of what the collector would
        # otherwise rescan at every full collection) lives as long as the process: set it
        # aside, so full collections cost what the rooms and sessions cost.
        gc.collect()
        gc.freeze()
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                scheme = "https" if self.config.is_ssl else "http"
                print(
                    f"meetings-emulator {__version__} serving {scheme}://{shown}:{port} "
                    "(API under /v1/meetings and /beta/meetings; control under /_emulator)",
                    flush=True,
                )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["play"]:
        from meetings_emulator.play.runner import main_play

        return main_play(argv[1:])
    if argv[:1] == ["receiver"]:
        from meetings_emulator.callbacks.receiver import main_receiver

        return main_receiver(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.log_level.lower() not in LOG_LEVELS:
        parser.error(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    if args.recording_upload_delay < 0:
        parser.error("--recording-upload-delay cannot be negative")
    if not 1 <= args.callback_max_attempts <= 20:
        parser.error("--callback-max-attempts must be from 1 to 20")
    for name in (
        "callback_url",
        "rooms_callback_url",
        "sessions_callback_url",
        "recordings_callback_url",
        "public_url",
    ):
        value = getattr(args, name)
        if value is not None and not value.startswith(("http://", "https://")):
            parser.error(f"--{name.replace('_', '-')} must start with http:// or https://")
    try:
        settings = settings_from(args)
    except (OSError, ValueError) as problem:
        parser.error(str(problem))
    tls_options = {}
    if args.tls:
        files = make_tls(settings.host)
        settings = replace(settings, tls_ca_pem=files.ca_pem)
        tls_options = {"ssl_certfile": str(files.cert_file), "ssl_keyfile": str(files.key_file)}
        if args.tls_ca_out:
            Path(args.tls_ca_out).write_text(files.ca_pem)
    elif args.tls_ca_out:
        parser.error("--tls-ca-out needs --tls")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        # A line per request costs more than many requests do: only when debugging.
        access_log=settings.log_level in ("debug", "trace"),
        timeout_graceful_shutdown=5,
        lifespan="on",
        **tls_options,
    )
    # Rooms are long-lived objects: the default thresholds rescan them all too often (full
    # collections of 0.2 s under a stream of creations). A young generation of 10,000 keeps
    # each pause short (a few ms; 100,000 made pauses of up to 40 ms) for the same total.
    gc.set_threshold(10_000, 50, 1000)
    _Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
