"""The command line's configuration: every option, where it may come from, how it is checked,
and the `Settings` it makes.

Every option can also come from the environment as `MEETINGS_EMULATOR_<NAME>`; a flag on the
command line wins. Every value is checked before anything is served: a bad one is named on
one line (`ConfigError`), which the command line answers with exit status 2.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from meetings_emulator import logs
from meetings_emulator.config_values import (
    ConfigError,
    _choice,
    _integer_from,
    _number_from,
    _readable_file,
    _text,
    _tls_folder,
    _writable_folder_of,
    parse_allowed_host,
    parse_boolean,
    parse_host,
    parse_port,
    parse_tls_hostname,
    parse_url,
)
from meetings_emulator.version import __version__

if TYPE_CHECKING:

    from meetings_emulator.domain.settings import Settings


ENV_PREFIX = "MEETINGS_EMULATOR_"
PROG = "meetings-emulator"
LOG_LEVELS = tuple(logs.LEVELS)
LOG_FORMATS = logs.FORMATS
TENANCIES = ("shared", "isolated")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9010

# Shutdown, from the first SIGINT or SIGTERM: requests in flight get REQUESTS_GRACE seconds
# to finish, then pending callbacks a last attempt within CALLBACKS_GRACE, then the state
# is saved. The whole ends within SHUTDOWN_BOUND, well inside Docker's 10 s before SIGKILL.
SHUTDOWN_BOUND = 5.0
REQUESTS_GRACE = 1.0
CALLBACKS_GRACE = 3.0

CA_FILE = "ca.pem"  # the CA in --tls-dir, as http/tls.py names it (importing it loads trustme)
API_PATH = "/v1/meetings"
DASHBOARD_PATH = "/_emulator/ui"
DOCS_PATH = "/_emulator/docs"
HEALTH_PATH = "/_emulator/health"

log = logging.getLogger("meetings_emulator")


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: a flag, an environment variable, a default and a check."""

    name: str
    help: str
    group: str
    default: Any = None
    parse: Callable[[str], Any] = _text
    metavar: str | None = None
    kind: str = "value"  # "value", "switch" (a flag without a value) or "list" (repeatable)
    secret: bool = False
    shown: str | None = None  # the default as --help says it, when not the value itself
    variable: str | None = None  # the environment variable's name, when not the flag's

    @property
    def flag(self) -> str:
        return f"--{self.name}"

    @property
    def env(self) -> str:
        return ENV_PREFIX + (self.variable or self.name).upper().replace("-", "_")

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")


def _options() -> list[Option]:
    from meetings_emulator.domain.settings import Settings
    from meetings_emulator.domain.signing import PROFILES

    d = Settings()
    server, api, callbacks, state, tls, logging_ = (
        "serving",
        "the API",
        "callbacks",
        "state",
        "TLS",
        "logging",
    )
    return [
        Option("host", "address to listen on", server, d.host, parse_host),
        Option(
            "port", "port to listen on; 0 picks a free one", server, d.port, parse_port, "0-65535"
        ),
        Option(
            "public-url",
            "the emulator's address as callbacks name it",
            server,
            None,
            parse_url,
            "URL",
            shown="http://HOST:PORT",
        ),
        Option(
            "control-token",
            "require `Authorization: Bearer TOKEN` on the control plane (/_emulator/...)",
            server,
            None,
            metavar="TOKEN",
            secret=True,
        ),
        Option(
            "allowed-host",
            "also answer requests naming this host (repeatable; env: comma-separated): a"
            " name, *.domain, or * for any; localhost, IP addresses, --host and --public-url's"
            " host always are",
            server,
            (),
            parse_allowed_host,
            "NAME",
            kind="list",
            variable="allowed-hosts",
        ),
        Option(
            "local-links",
            "rooms' links open the emulator's own meeting page (<public url>/meet/...)",
            server,
            d.local_links,
            parse_boolean,
            kind="switch",
        ),
        Option(
            "request-timeout",
            "seconds a connection has to send a whole request (else it is closed, 408 if"
            " it began one), and an event stream's reader to take each message",
            server,
            d.request_timeout,
            _number_from(0.1, 3600),
            "SECONDS",
        ),
        Option(
            "keep-alive-timeout",
            "seconds an idle kept-alive connection stays open between requests",
            server,
            d.keep_alive_timeout,
            _number_from(0.1, 3600),
            "SECONDS",
        ),
        Option("base-url", "base of the rooms' guest and host links", api, d.base_url, parse_url),
        Option("api-key", "accept Basic auth only with this api key", api, None, metavar="KEY"),
        Option(
            "api-secret",
            "accept Basic auth only with this api secret",
            api,
            None,
            metavar="SECRET",
            secret=True,
        ),
        Option(
            "public-key",
            "application public key (PEM text or a path to it): JWT signatures are checked",
            api,
            None,
            metavar="PEM|FILE",
        ),
        Option(
            "seed",
            "seed for ids, meeting codes and tokens (repeatable runs)",
            api,
            "random",
            _integer_from(0),
            "INT",
        ),
        Option(
            "max-rooms",
            "available rooms allowed at once (403 beyond)",
            api,
            d.max_rooms,
            _integer_from(1),
            "N",
        ),
        Option(
            "tenancy",
            "shared: every caller sees the same rooms; isolated: one tenant per api key or"
            " application id",
            api,
            d.tenancy,
            _choice(*TENANCIES),
            "{" + ",".join(TENANCIES) + "}",
        ),
        Option(
            "tenants",
            'a JSON file of named tenants: [{"name", "api_key"?, "application_id"?}, ...]',
            api,
            None,
            _readable_file,
            "FILE",
        ),
        Option(
            "dial-in-numbers",
            "a JSON file listing the dial-in numbers to serve",
            api,
            None,
            _readable_file,
            "FILE",
            shown="built in",
        ),
        Option(
            "recording-upload-delay",
            "seconds of emulator time between a recording's stop and its upload",
            api,
            d.recording_upload_delay,
            _number_from(0, 86400),
            "SECONDS",
        ),
        Option(
            "room-retention",
            "seconds of emulator time an expired or deleted room stays readable; then it"
            " is forgotten (404)",
            api,
            d.room_retention,
            _number_from(0, 10 * 366 * 86400),
            "SECONDS",
        ),
        Option(
            "callback-url",
            "send every callback here (unless a more specific URL is set)",
            callbacks,
            None,
            parse_url,
            "URL",
        ),
        *(
            Option(
                f"{kind}-callback-url", f"send {kind[:-1]} events here", callbacks, None, parse_url
            )
            for kind in ("rooms", "sessions", "recordings")
        ),
        Option(
            "callback-secret",
            "sign callbacks with this secret (see --callback-signing); whsec_<base64> for"
            " the standard profile",
            callbacks,
            None,
            metavar="SECRET",
            secret=True,
        ),
        Option(
            "callback-signing",
            "how callbacks are signed: none; hmac (X-Meetings-Signature); vonage (a JWT in"
            " Authorization, as Vonage signs webhooks); standard (Standard Webhooks)",
            callbacks,
            None,
            _choice(*PROFILES),
            "{" + ",".join(PROFILES) + "}",
            shown="hmac with --callback-secret, else none",
        ),
        Option(
            "callback-max-attempts",
            "attempts per callback before giving up",
            callbacks,
            d.callback_max_attempts,
            _integer_from(1, 20),
            "1-20",
        ),
        Option(
            "callback-base-delay",
            "seconds (emulator time) before the first retry; doubles",
            callbacks,
            d.callback_base_delay,
            _number_from(0, 3600),
            "SECONDS",
        ),
        Option(
            "callback-timeout",
            "seconds one callback attempt may take",
            callbacks,
            d.callback_timeout,
            _number_from(0.1, 60),
            "SECONDS",
        ),
        Option(
            "max-pending-callbacks",
            "callbacks waiting to be delivered, at most; past it the oldest are given up",
            callbacks,
            d.max_pending_callbacks,
            _integer_from(1),
            "N",
        ),
        Option(
            "state-file",
            "load state from this file at start; save it there at shutdown and on"
            " POST /_emulator/snapshot (its folder must exist)",
            state,
            None,
            _writable_folder_of,
            "FILE",
        ),
        Option(
            "tls",
            "serve HTTPS with a certificate from a local CA",
            tls,
            False,
            parse_boolean,
            kind="switch",
        ),
        Option(
            "tls-hostname",
            "also name this host in the certificate (repeatable; env: comma-separated),"
            " e.g. a compose service's name",
            tls,
            (),
            parse_tls_hostname,
            "NAME",
            kind="list",
        ),
        Option(
            "tls-dir",
            f"keep the CA in this folder ({CA_FILE} and its key) and reuse it at every start",
            tls,
            None,
            _tls_folder,
            "DIR",
            shown="a new CA at each start",
        ),
        Option(
            "tls-ca-out",
            "write the CA certificate (PEM) to this file",
            tls,
            None,
            _writable_folder_of,
            "FILE",
        ),
        Option(
            "log-level",
            "what is logged: debug adds a line per request",
            logging_,
            d.log_level,
            _choice(*LOG_LEVELS),
            "{" + ",".join(LOG_LEVELS) + "}",
        ),
        Option(
            "log-format",
            "text lines, or JSON lines for log collectors",
            logging_,
            "text",
            _choice(*LOG_FORMATS),
            "{" + ",".join(LOG_FORMATS) + "}",
        ),
    ]


def _shown_default(option: Option) -> str:
    if option.shown is not None:
        return option.shown
    if option.kind == "switch":
        return "off"
    if option.default is None or option.default == ():
        return "none"
    if isinstance(option.default, float) and option.default.is_integer():
        return str(int(option.default))
    return str(option.default)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error told in one line (the usage itself is under --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


USAGE = f"""{PROG} [options]                       serve the emulator
       {PROG} play SCENARIO [options]         play a scripted meeting (play --help)
       {PROG} receiver [--port N] [options]   print the callbacks it is sent
       {PROG} health [--url URL] [--ca FILE]  exit 0 if an emulator answers healthy
       {PROG} exec [options] -- CMD [ARGS]    serve while CMD runs (exec --help)
"""


def build_parser(
    prog: str = PROG,
    usage: str = USAGE,
    description: str = "A local, in-memory emulator of the Vonage Meetings API.",
    epilog: str = (
        f" SIGINT and SIGTERM stop the server within {SHUTDOWN_BOUND:g} s, saving the"
        " state file; the exit status is 0, or 2 for a bad option."
    ),
) -> argparse.ArgumentParser:
    """The serving command's flags (which `exec` takes too, with its own usage); values are
    checked by `settings_from`, with the environment, so a bad environment variable never
    stops `--help`."""
    parser = _Parser(
        prog=prog,
        usage=usage,
        description=description,
        epilog=(
            f"Every option is also an environment variable {ENV_PREFIX}<NAME> (shown with"
            " each); a flag wins. Switches take 1/0, true/false, yes/no or on/off there."
            + epilog
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    groups: dict[str, argparse._ArgumentGroup] = {}
    for option in _options():
        group = groups.get(option.group)
        if group is None:
            group = groups[option.group] = parser.add_argument_group(option.group)
        shown = f"(default: {_shown_default(option)}; env {option.env})"
        if option.kind == "switch":
            group.add_argument(
                option.flag,
                dest=option.dest,
                action="store_const",
                const="1",
                default=None,
                help=f"{option.help} {shown}",
            )
        else:
            group.add_argument(
                option.flag,
                dest=option.dest,
                action="append" if option.kind == "list" else "store",
                default=None,
                metavar=option.metavar or option.name.split("-")[-1].upper(),
                help=f"{option.help} {shown}",
            )
    return parser


# -- from flags and environment to settings -------------------------------------------------


def _resolve(option: Option, given: Any) -> Any:
    """The option's value: the flag, else the environment, else the default; checked."""
    if given is not None:
        raws = given if isinstance(given, list) else [given]
        sources = [
            option.flag
            if option.kind == "switch"
            else f"{option.flag} {'***' if option.secret else raw}"
            for raw in raws
        ]
    else:
        from_env = os.environ.get(option.env, "")
        if not from_env.strip():
            return option.default
        raws = (
            [part for part in from_env.split(",") if part.strip()]
            if option.kind == "list"
            else [from_env]
        )
        shown = "***" if option.secret else from_env
        sources = [f"{option.env}={shown}"] * len(raws)
    values = []
    for raw, source in zip(raws, sources, strict=True):
        try:
            values.append(option.parse(raw))
        except ValueError as problem:
            raise ConfigError(f"{source}: {problem}") from None
    return tuple(values) if option.kind == "list" else values[0]


def resolve_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every option's checked value, by its `dest` name."""
    return {
        option.dest: _resolve(option, getattr(args, option.dest, None)) for option in _options()
    }


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


def _load(flag: str, path: str, loader: Callable[[str], Any]) -> Any:
    try:
        return loader(path)
    except json.JSONDecodeError as problem:
        raise ConfigError(f"{flag} {path}: not JSON ({problem})") from None
    except OSError as problem:
        raise ConfigError(f"{flag} {path}: {problem.strerror or problem}") from None
    except ValueError as problem:
        message = str(problem).removeprefix(f"{path}: ")
        raise ConfigError(f"{flag} {path}: {message}") from None


def _public_key(text: str) -> str:
    pem = text
    if "-----BEGIN" not in text:
        pem = _load("--public-key", text, lambda path: Path(path).read_text())
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        shown = "the PEM text" if pem is text else text
        raise ConfigError(f"--public-key {shown}: not a PEM public key") from None
    return pem


def _callback_signing(chosen: str | None, secret: str | None) -> str | None:
    """The profile chosen, once the secret is known to suit it."""
    from meetings_emulator.domain.signing import profile_of, secret_problem

    profile = profile_of(chosen, secret)
    if not secret and profile != "none":
        raise ConfigError(f"--callback-signing {profile} needs --callback-secret")
    problem = secret_problem(profile, secret)
    if problem is not None:
        raise ConfigError(f"--callback-secret ***: {problem}")
    return chosen


def settings_from(args: argparse.Namespace, values: dict[str, Any] | None = None) -> Settings:
    """The emulator's settings from parsed flags and the environment; `ConfigError` (a
    `ValueError`) names the first bad value."""
    from meetings_emulator.domain.settings import Settings

    v = values if values is not None else resolve_all(args)
    files: dict[str, Any] = {}
    if v["dial_in_numbers"]:
        files["dial_in_numbers"] = _load(
            "--dial-in-numbers", v["dial_in_numbers"], load_dial_in_numbers
        )
    if v["tenants"]:
        files["tenants"] = _load("--tenants", v["tenants"], load_tenants)
    if v["state_file"] and Path(v["state_file"]).exists():
        try:
            _readable_file(v["state_file"])
        except ValueError as problem:
            raise ConfigError(f"--state-file {v['state_file']}: {problem}") from None
    return Settings(
        **files,
        tenancy=v["tenancy"],
        host=v["host"],
        port=v["port"],
        base_url=v["base_url"],
        api_key=v["api_key"],
        api_secret=v["api_secret"],
        public_key=_public_key(v["public_key"]) if v["public_key"] else None,
        seed=None if v["seed"] == "random" else v["seed"],
        max_rooms=v["max_rooms"],
        recording_upload_delay=v["recording_upload_delay"],
        public_url=v["public_url"],
        local_links=v["local_links"],
        control_token=v["control_token"],
        allowed_hosts=(*v["allowed_host"], *v["tls_hostname"]),  # a certificate's names too
        state_file=v["state_file"],
        callback_url=v["callback_url"],
        rooms_callback_url=v["rooms_callback_url"],
        sessions_callback_url=v["sessions_callback_url"],
        recordings_callback_url=v["recordings_callback_url"],
        callback_secret=v["callback_secret"],
        callback_signing=_callback_signing(v["callback_signing"], v["callback_secret"]),
        callback_max_attempts=v["callback_max_attempts"],
        callback_base_delay=v["callback_base_delay"],
        callback_timeout=v["callback_timeout"],
        max_pending_callbacks=v["max_pending_callbacks"],
        room_retention=v["room_retention"],
        request_timeout=v["request_timeout"],
        keep_alive_timeout=v["keep_alive_timeout"],
        log_level=v["log_level"],
    )


@dataclass(frozen=True, slots=True)
class Config:
    """All a serving process needs: the emulator's settings, TLS and logging."""

    settings: Settings
    values: dict[str, Any]  # every option's value, by dest name, for the start-up log

    @property
    def tls(self) -> bool:
        return bool(self.values["tls"])

    @property
    def log_level(self) -> str:
        return str(self.values["log_level"])

    @property
    def log_format(self) -> str:
        return str(self.values["log_format"])


def configure(args: argparse.Namespace) -> Config:
    """Check every value, flags and environment alike; `ConfigError` names the first bad one."""
    values = resolve_all(args)
    if not values["tls"]:
        for name in ("tls-ca-out", "tls-dir", "tls-hostname"):
            if values[name.replace("-", "_")]:
                raise ConfigError(f"--{name} needs --tls")
    settings = settings_from(args, values)
    return Config(replace(settings, shutdown_grace=CALLBACKS_GRACE), values)


def masked_configuration(config: Config) -> dict[str, Any]:
    """Every option's value as it is used, secrets shown as `***`."""
    shown: dict[str, Any] = {}
    for option in _options():
        value = config.values[option.dest]
        if option.secret and value is not None:
            value = "***"
        elif option.name == "public-key" and value is not None:
            value = "(PEM text)" if "-----BEGIN" in value else value
        elif isinstance(value, tuple):
            value = list(value)
        shown[option.name] = value
    return shown


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host == ""


def shown_url(scheme: str, host: str, port: int) -> str:
    """A URL a person on this machine can open: 0.0.0.0 and :: are shown as 127.0.0.1."""
    if _unspecified(host):
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _refuse(message: str, status: int = 2) -> int:
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)
    return status
