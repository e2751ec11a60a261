"""HTTPS for the emulator: a certificate for this machine, signed by a local CA.

The official Python SDK always calls `https://`, so the emulator can serve TLS. `trustme`
makes the CA and the server certificate (for `localhost`, `127.0.0.1`, `::1`, the host it
listens on, and any other names asked for, such as a compose service's name); callers
trust the CA, which the emulator writes where asked and serves at
`GET /_emulator/tls/ca.pem`.

The CA is made on the spot, or kept in a folder (`ca.pem` and `ca-key.pem`) and reused at
every start, so a CA trusted once stays trusted. The server's certificate and key are
written to a private temporary folder only for the server to read them at start;
`TlsFiles.remove_temporary` deletes it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import trustme

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
ORGANIZATION = "meetings-emulator local CA"


class TlsError(Exception):
    """A CA folder that cannot be used (a key missing, a file that is not a CA)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    ca_pem: str
    cert_file: Path  # the server certificate and its chain
    key_file: Path
    temporary: Path | None = None  # the folder to delete once the server has read them

    def remove_temporary(self) -> None:
        if self.temporary is not None:
            shutil.rmtree(self.temporary, ignore_errors=True)


def certificate_names(host: str, extra_names: Iterable[str] = ()) -> list[str]:
    """Local names, `host` unless it means every interface, then `extra_names`; no repeats."""
    names = list(LOCAL_NAMES)
    wanted = [host] if host and not _unspecified(host) else []
    for name in [*wanted, *extra_names]:
        if name and name not in names:
            names.append(name)
    return names


def load_or_make_ca(folder: str | Path | None) -> trustme.CA:
    """The CA kept in `folder` (made and written there the first time), or a new one."""
    if folder is None:
        return trustme.CA(organization_name=ORGANIZATION)
    where = Path(folder)
    cert, key = where / CA_FILE, where / CA_KEY_FILE
    if cert.exists() or key.exists():
        if not (cert.is_file() and key.is_file()):
            found, missing = (cert, key) if cert.exists() else (key, cert)
            raise TlsError(f"{found.name} is there, but not {missing.name}")
        try:
            return trustme.CA.from_pem(cert.read_bytes(), key.read_bytes())
        except (OSError, ValueError) as problem:
            raise TlsError(f"cannot use the CA there: {problem}") from None
    ca = trustme.CA(organization_name=ORGANIZATION)
    try:
        where.mkdir(parents=True, exist_ok=True)
        _write_private(key, ca.private_key_pem.bytes())
        cert.write_bytes(ca.cert_pem.bytes())
    except OSError as problem:
        raise TlsError(f"cannot keep the CA there: {problem.strerror or problem}") from None
    return ca


def make_tls(
    host: str,
    folder: Path | None = None,
    *,
    extra_names: Iterable[str] = (),
    ca_dir: str | Path | None = None,
) -> TlsFiles:
    """A certificate for local names, `host` and `extra_names`, signed by the CA kept in
    `ca_dir` (or a new one), written under `folder` (by default a private temporary one,
    which `TlsFiles.remove_temporary` deletes)."""
    ca = load_or_make_ca(ca_dir)
    server = ca.issue_cert(*certificate_names(host, extra_names))
    temporary = None
    if folder is None:
        folder = temporary = Path(tempfile.mkdtemp(prefix="meetings-emulator-tls-"))
    where = folder
    cert_file, key_file = where / "server.pem", where / "server.key"
    try:
        _write_private(key_file, server.private_key_pem.bytes())
        cert_file.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    return TlsFiles(ca.cert_pem.bytes().decode(), cert_file, key_file, temporary)


def _write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only, from its first byte."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def _unspecified(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False
