"""`meetings-emulator health`: exit 0 when an emulator answers healthy, 1 when not.

It imports nothing heavy, so a container's health check starts quickly.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:

    pass

from meetings_emulator.config import (
    CA_FILE,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ENV_PREFIX,
    HEALTH_PATH,
    PROG,
    _Parser,
    _refuse,
    shown_url,
)
from meetings_emulator.config_values import (
    _number_from,
    parse_boolean,
    parse_url,
)


def _health_default_url() -> str:
    """The address of an emulator configured by this environment (as in a container)."""
    env = os.environ
    host = env.get(ENV_PREFIX + "HOST", "").strip() or DEFAULT_HOST
    port = env.get(ENV_PREFIX + "PORT", "").strip() or str(DEFAULT_PORT)
    try:
        tls = parse_boolean(env.get(ENV_PREFIX + "TLS", "").strip() or "0")
    except ValueError:
        tls = False
    return shown_url("https" if tls else "http", host, int(port) if port.isdigit() else 0)


def _health_default_ca() -> str | None:
    env = os.environ
    if env.get(ENV_PREFIX + "TLS_CA_OUT", "").strip():
        return env[ENV_PREFIX + "TLS_CA_OUT"].strip()
    if env.get(ENV_PREFIX + "TLS_DIR", "").strip():
        return str(Path(env[ENV_PREFIX + "TLS_DIR"].strip()) / CA_FILE)
    return None


def main_health(argv: Sequence[str]) -> int:
    """`health [--url URL] [--ca FILE] [--timeout S]`: 0 healthy, 1 not, 2 bad option."""
    parser = _Parser(
        prog=f"{PROG} health",
        description=(
            f"Ask a running emulator for {HEALTH_PATH}: exit 0 when it answers healthy, 1"
            " otherwise (for Docker's HEALTHCHECK and scripts)."
        ),
    )
    parser.add_argument(
        "--url",
        help="the emulator's base URL (default: from MEETINGS_EMULATOR_HOST, _PORT and _TLS,"
        f" as the server reads them: now {_health_default_url()})",
    )
    parser.add_argument(
        "--ca",
        metavar="FILE",
        help="the CA to verify HTTPS with (default: MEETINGS_EMULATOR_TLS_CA_OUT, or ca.pem"
        " in MEETINGS_EMULATOR_TLS_DIR; without either, the local emulator's certificate is"
        " not verified)",
    )
    parser.add_argument(
        "--timeout", default="2", metavar="SECONDS", help="how long to wait (default: 2)"
    )
    args = parser.parse_args(list(argv))
    try:
        url = parse_url(args.url) if args.url else _health_default_url()
    except ValueError as problem:
        return _refuse(f"health --url {args.url}: {problem}")
    try:
        timeout = _number_from(0.1, 60)(args.timeout)
    except ValueError as problem:
        return _refuse(f"health --timeout {args.timeout}: {problem}")
    ca = args.ca or _health_default_ca()
    if ca is not None and not Path(ca).is_file():
        return _refuse(f"health --ca {ca}: is not a file")
    target = url if url.rstrip("/").endswith(HEALTH_PATH) else url.rstrip("/") + HEALTH_PATH
    problem = unhealthy(target, timeout, ca)
    if problem is not None:
        print(f"unhealthy: {target}{problem}", file=sys.stderr)
        return 1
    print(f"healthy: {target}")
    return 0


def unhealthy(target: str, timeout: float, ca: str | None = None) -> str | None:
    """None when `target` (a health URL) answers healthy within `timeout` seconds; else what
    went wrong, to follow the URL (`: connection refused`, ` answered 503`). Over HTTPS
    without `ca`, the certificate is not verified: it checks an emulator answers, over TLS."""
    context = None
    if target.startswith("https://"):
        if ca is not None:
            context = ssl.create_default_context(cafile=ca)
        else:  # the local emulator's own CA is not at hand: check it answers, over TLS
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(target, timeout=timeout, context=context) as answer:
            status = json.loads(answer.read()).get("status")
    except urllib.error.HTTPError as problem:
        return f" answered {problem.code}"
    except (OSError, ValueError) as problem:
        return f": {getattr(problem, 'reason', problem)}"
    if status != "ok":
        return f" answered status {status!r}"
    return None


# -- the command line ---------------------------------------------------------------------------
