"""`meetings-emulator health`: exit 0 when an emulator answers healthy, 1 otherwise, over
HTTP and HTTPS, configured by flags or by the same environment as the server."""

from __future__ import annotations

import signal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette

from ..conftest import serving
from .process import Running, refused_url, run

pytestmark = pytest.mark.network


def port_of(url: str) -> str:
    return str(urlsplit(url).port)


def test_healthy_over_http_by_url_and_by_environment() -> None:
    with Running.start("--port", "0", "--control-token", "t0k3n") as running:
        by_url = run("health", "--url", running.url)
        by_env = run("health", env={"MEETINGS_EMULATOR_PORT": port_of(running.url)})
        running.stop(signal.SIGTERM)
    for result in (by_url, by_env):
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"healthy: {running.url}/_emulator/health\n"
        assert result.stderr == ""


def test_healthy_over_https_with_and_without_the_ca(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with Running.start("--port", "0", "--tls", "--tls-ca-out", str(ca)) as running:
        port = port_of(running.url)
        verified = run("health", "--url", running.url, "--ca", str(ca))
        by_env = run(
            "health",
            env={
                "MEETINGS_EMULATOR_PORT": port,
                "MEETINGS_EMULATOR_TLS": "yes",
                "MEETINGS_EMULATOR_TLS_CA_OUT": str(ca),  # verified with the CA it wrote
            },
        )
        unverified = run(
            "health", env={"MEETINGS_EMULATOR_PORT": port, "MEETINGS_EMULATOR_TLS": "1"}
        )
        plain = run("health", "--url", f"http://127.0.0.1:{port}")
        other_ca = tmp_path / "other.pem"
        with Running.start("--port", "0", "--tls", "--tls-ca-out", str(other_ca)) as other:
            untrusted = run("health", "--url", running.url, "--ca", str(other_ca))
            other.stop(signal.SIGTERM)
        running.stop(signal.SIGTERM)
    for result in (verified, by_env, unverified):
        assert result.returncode == 0, result.stderr
        assert result.stdout == f"healthy: {running.url}/_emulator/health\n"
    assert plain.returncode == 1  # plain HTTP to a TLS server
    assert untrusted.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.stderr
    assert len(untrusted.stderr.splitlines()) == 1


def test_unhealthy_when_nothing_or_something_else_answers() -> None:
    nothing = run("health", "--url", refused_url().removesuffix("/callbacks"))
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("unhealthy: http://127.0.0.1:")
    assert "Connection refused" in nothing.stderr
    assert len(nothing.stderr.splitlines()) == 1
    with serving(Starlette()) as url:  # answers 404 everywhere
        other = run("health", "--url", url)
    assert (other.returncode, other.stderr) == (
        1,
        f"unhealthy: {url}/_emulator/health answered 404\n",
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--url", "localhost:9010"],
            "health --url localhost:9010: must be a URL starting with http:// or https://",
        ),
        (["--timeout", "0"], "health --timeout 0: must be a number from 0.1 to 60"),
        (["--ca", "/nowhere/ca.pem"], "health --ca /nowhere/ca.pem: is not a file"),
    ],
)
def test_a_bad_option_is_exit_2(args: list[str], line: str) -> None:
    result = run("health", *args)
    assert result.returncode == 2
    assert result.stderr == f"meetings-emulator: {line}\n"
