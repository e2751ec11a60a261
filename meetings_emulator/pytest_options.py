"""The pytest plugin's options: each an ini option and a command-line flag (the flag wins),
checked with the command line's own checks, and the `Settings` they make.

Each is `meetings_emulator_<name>` in the ini file and `--meetings-emulator-<name>` on the
command line:

- `url`: use the emulator there and start none (also `$MEETINGS_EMULATOR_URL`, between the
  flag and the ini file): one server for every xdist worker, a compose service, `exec`; an
  `https://` one is trusted as httpx trusts any (`SSL_CERT_FILE` names a CA file);
- `scope`: how long a server the plugin starts lives: session (default), module, function;
- `seed`: ids, meeting codes and tokens repeat from run to run;
- `api_key`, `api_secret`: the Basic credentials the server accepts and the plugin calls with;
- `public_key`: a PEM file; JWT signatures are checked with it;
- `local_links`: rooms' links open the emulator's own meeting page;
- `tenancy`: shared or isolated;
- `tls`: serve HTTPS with a certificate from a CA made for the session;
- `start`: the instant the clocks are frozen at (default: the session's start, to the second).

A switch given as a flag alone means on (`--meetings-emulator-tls`); with a value (and in the
ini file) it takes 1/0, true/false, yes/no or on/off. A bad value stops pytest before any
test with one line (`pytest.UsageError`) naming where it came from and what is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from meetings_emulator.config import ENV_PREFIX, TENANCIES, _options, _public_key
from meetings_emulator.config_values import (
    ConfigError,
    _choice,
    _readable_file,
    _text,
    parse_boolean,
    parse_url,
)
from meetings_emulator.domain.isotime import parse_iso
from meetings_emulator.domain.settings import Settings

SCOPES = ("session", "module", "function")
URL_VARIABLE = ENV_PREFIX + "URL"  # what `meetings-emulator exec` gives the command it runs
PREFIX = "meetings_emulator_"
DEFAULT_KEY, DEFAULT_SECRET = "test-key", "test-secret"


def _instant(text: str) -> datetime:
    moment = parse_iso(text.strip())
    if moment is None:
        raise ValueError("must be an instant such as 2026-03-02T09:30:00Z")
    return moment


def _pem_file(path: str) -> str:
    _readable_file(path)
    text = Path(path).read_text(errors="replace")
    if "-----BEGIN" not in text:  # else the command line's check reads it as a path
        raise ValueError("is not a PEM public key")
    try:
        return _public_key(text)
    except ConfigError:
        raise ValueError("is not a PEM public key") from None


def _cli_check(name: str) -> Callable[[str], Any]:
    """The command line's own check of its option `name`."""
    return next(option.parse for option in _options() if option.name == name)


@dataclass(frozen=True, slots=True)
class PluginOption:
    name: str  # as the flag has it: --meetings-emulator-<name>
    help: str
    parse: Callable[[str], Any]
    metavar: str
    switch: bool = False
    secret: bool = False
    default: str = ""

    @property
    def ini(self) -> str:
        return PREFIX + self.name.replace("-", "_")

    @property
    def flag(self) -> str:
        return "--meetings-emulator-" + self.name

    @property
    def dest(self) -> str:
        return self.ini


def plugin_options() -> list[PluginOption]:
    return [
        PluginOption(
            "url",
            f"use the emulator at this URL and start none (also ${URL_VARIABLE}): one server"
            " shared by every xdist worker, a compose service, `meetings-emulator exec`",
            parse_url,
            "URL",
        ),
        PluginOption(
            "scope",
            "how long a server the plugin starts lives: session (default; one per xdist"
            " worker), module or function",
            _choice(*SCOPES),
            "{" + ",".join(SCOPES) + "}",
            default="session",
        ),
        PluginOption(
            "seed",
            "seed for ids, meeting codes and tokens (repeatable runs)",
            _cli_check("seed"),
            "INT",
        ),
        PluginOption(
            "api-key",
            "accept Basic auth only with this api key (the plugin's client calls with it)",
            _text,
            "KEY",
        ),
        PluginOption(
            "api-secret",
            "accept Basic auth only with this api secret (the plugin's client calls with it)",
            _text,
            "SECRET",
            secret=True,
        ),
        PluginOption(
            "public-key",
            "a PEM file: JWT signatures are checked with it (Basic is refused unless an api"
            " key or secret is set too)",
            _pem_file,
            "FILE",
        ),
        PluginOption(
            "local-links",
            "rooms' links open the emulator's own meeting page",
            parse_boolean,
            "BOOL",
            switch=True,
        ),
        PluginOption(
            "tenancy",
            "shared: every caller sees the same rooms; isolated: one tenant per api key",
            _choice(*TENANCIES),
            "{" + ",".join(TENANCIES) + "}",
        ),
        PluginOption(
            "tls",
            "serve HTTPS with a certificate from a CA made for the session",
            parse_boolean,
            "BOOL",
            switch=True,
        ),
        PluginOption(
            "start",
            "the instant the server's and each tenant's frozen clock start at"
            " (default: the session's start, to the second)",
            _instant,
            "INSTANT",
        ),
    ]


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("meetings-emulator", "the Meetings API emulator")
    for option in plugin_options():
        parser.addini(option.ini, option.help, default=option.default or None)
        extra: dict[str, Any] = {"nargs": "?", "const": "1"} if option.switch else {}
        group.addoption(
            option.flag,
            dest=option.dest,
            default=None,
            metavar=option.metavar,
            help=option.help + f" (ini: {option.ini})",
            **extra,
        )


@dataclass(frozen=True, slots=True)
class PluginConfig:
    """Every option's checked value (None: not given)."""

    url: str | None = None
    scope: str = "session"
    seed: int | None = None
    api_key: str | None = None
    api_secret: str | None = None
    public_key: str | None = None
    local_links: bool = False
    tenancy: str | None = None
    tls: bool = False
    start: datetime | None = None

    @property
    def credentials(self) -> tuple[str, str]:
        """The Basic pair the plugin's own client calls with."""
        return self.api_key or DEFAULT_KEY, self.api_secret or DEFAULT_SECRET

    def settings(self, **more: Any) -> Settings:
        """The settings of a server the plugin starts; `more` adds the ones it picks."""
        given: dict[str, Any] = {
            "seed": self.seed,
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "public_key": self.public_key,
            "local_links": self.local_links,
        }
        if self.tenancy is not None:
            given["tenancy"] = self.tenancy
        return Settings(**given, **more)


def _given(config: pytest.Config, option: PluginOption) -> tuple[str, str] | None:
    """The raw value and where it came from: the flag, the environment (the URL only), the
    ini file; None when none of them gives it."""
    flagged = config.getoption(option.dest, None)
    if flagged is not None:
        shown = "***" if option.secret else flagged
        return (
            flagged,
            option.flag if option.switch and flagged == "1" else f"{option.flag} {shown}",
        )
    if option.name == "url":
        from_env = os.environ.get(URL_VARIABLE, "")
        if from_env.strip():
            return from_env, f"{URL_VARIABLE}={from_env}"
    raw = config.getini(option.ini)
    if isinstance(raw, str) and raw.strip():
        where = f" in {config.inipath.name}" if config.inipath else ""
        shown = "***" if option.secret else raw.strip()
        return raw, f"{option.ini} = {shown}{where}"
    return None


def read_config(config: pytest.Config) -> PluginConfig:
    """Every option checked; `pytest.UsageError` names the first bad one, on one line."""
    values: dict[str, Any] = {}
    for option in plugin_options():
        given = _given(config, option)
        if given is None:
            continue
        raw, source = given
        try:
            values[option.ini.removeprefix(PREFIX)] = option.parse(raw)
        except ValueError as problem:
            raise pytest.UsageError(f"meetings-emulator: {source}: {problem}") from None
    return PluginConfig(**values)


__all__ = ["PluginConfig", "add_options", "plugin_options", "read_config"]
