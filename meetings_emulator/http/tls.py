"""HTTPS for the emulator: a certificate for this machine, signed by a CA made on the spot.

The official Python SDK always calls `https://`, so the emulator can serve TLS. `trustme`
makes the CA and the server certificate (for `localhost`, `127.0.0.1`, `::1` and the host
it listens on); callers trust the CA, which the emulator writes where asked and serves at
`GET /_emulator/tls/ca.pem`.
"""

from __future__ import annotations

import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_pem: str
    cert_file: Path  # the server certificate and its chain
    key_file: Path


def make_tls(host: str, folder: Path | None = None) -> TlsFiles:
    """A fresh CA and a certificate for local names and `host`, written under `folder`."""
    names = list(LOCAL_NAMES)
    if host and host not in names and not _unspecified(host):
        names.append(host)
    ca = trustme.CA(organization_name="meetings-emulator local CA")
    server = ca.issue_cert(*names)
    where = folder or Path(tempfile.mkdtemp(prefix="meetings-emulator-tls-"))
    cert_file, key_file = where / "server.pem", where / "server.key"
    server.private_key_pem.write_to_path(str(key_file))
    server.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in server.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    key_file.chmod(0o600)
    return TlsFiles(ca.cert_pem.bytes().decode(), cert_file, key_file)


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
