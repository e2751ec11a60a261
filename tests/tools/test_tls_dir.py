"""TLS for compose and CI: more names in the certificate (`--tls-hostname`), a CA kept and
reused across restarts (`--tls-dir`), and no temporary files left behind."""

from __future__ import annotations

import signal
import socket
import ssl
import stat
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from .process import Running, run

pytestmark = pytest.mark.network


def handshake(url: str, ca: Path | str, server_hostname: str) -> None:
    """A TLS handshake with 127.0.0.1, checking the certificate for `server_hostname`."""
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", urlsplit(url).port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname),
    ):
        pass


def test_tls_hostname_names_a_compose_service(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    with Running.start(
        "--port", "0", "--tls", "--tls-ca-out", str(ca), "--tls-hostname", "meetings"
    ) as running:
        handshake(running.url, ca, "meetings")
        handshake(running.url, ca, "localhost")
        with pytest.raises(ssl.SSLCertVerificationError):
            handshake(running.url, ca, "elsewhere")
        # An HTTP client calling https://meetings:PORT, its connection made to 127.0.0.1.
        port = urlsplit(running.url).port
        transport = httpx.HTTPTransport(verify=ssl.create_default_context(cafile=str(ca)))
        with httpx.Client(transport=transport) as http:
            request = http.build_request("GET", f"https://meetings:{port}/_emulator/health")
            request.extensions["sni_hostname"] = "meetings"
            request.url = request.url.copy_with(host="127.0.0.1")
            assert http.send(request).json()["status"] == "ok"
        assert running.stop(signal.SIGTERM).status == 0


def test_tls_hostnames_from_the_environment(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    env = {
        "MEETINGS_EMULATOR_TLS": "true",
        "MEETINGS_EMULATOR_TLS_CA_OUT": str(ca),
        "MEETINGS_EMULATOR_TLS_HOSTNAME": "meetings, api.test",
    }
    with Running.start("--port", "0", env=env) as running:
        handshake(running.url, ca, "meetings")
        handshake(running.url, ca, "api.test")
        assert running.stop(signal.SIGTERM).status == 0


def test_tls_dir_keeps_the_ca_and_reuses_it(tmp_path: Path) -> None:
    folder = tmp_path / "tls"  # made on first use
    with Running.start("--port", "0", "--tls", "--tls-dir", str(folder)) as first:
        ca = (folder / "ca.pem").read_bytes()
        handshake(first.url, folder / "ca.pem", "127.0.0.1")
        assert first.stop(signal.SIGTERM).status == 0
    assert stat.S_IMODE((folder / "ca-key.pem").stat().st_mode) == 0o600
    trusted = tmp_path / "trusted-once.pem"
    trusted.write_bytes(ca)  # what a client was given the first time

    with Running.start("--port", "0", "--tls", "--tls-dir", str(folder)) as second:
        assert (folder / "ca.pem").read_bytes() == ca
        handshake(second.url, trusted, "localhost")  # the new certificate, the same CA
        served = httpx.get(
            f"{second.url}/_emulator/tls/ca.pem", verify=ssl.create_default_context(cafile=trusted)
        )
        assert served.content == ca
        assert second.stop(signal.SIGTERM).status == 0


def test_a_ca_without_its_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    result = run("--port", "0", "--tls", "--tls-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == (
        f"meetings-emulator: --tls-dir {tmp_path}: ca.pem is there, but not ca-key.pem\n"
    )


def test_no_temporary_tls_files_are_left(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with Running.start("--port", "0", "--tls", env={"TMPDIR": str(temporary)}) as running:
        assert list(temporary.iterdir()) == []  # read at start, removed at once
        assert httpx.get(f"{running.url}/_emulator/health", verify=False).status_code == 200
        assert running.stop(signal.SIGINT).status == 0
    assert list(temporary.iterdir()) == []
