"""The only place ids, meeting codes and participant tokens are made.

One random source serves them all. Given a seed, the same sequence of calls makes the
same ids, codes and tokens, so a failing test or a recorded demo can be replayed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import random
import string
import threading
from datetime import datetime
from typing import Any

import jwt
import orjson

MEETING_CODE_LOW = 100_000_000
MEETING_CODE_HIGH = 999_999_999
MEETING_CODE_SPAN = MEETING_CODE_HIGH - MEETING_CODE_LOW + 1
SESSION_ALPHABET = string.ascii_letters + string.digits + "+/"


class _OsEntropy:
    """Random bytes from the OS, read 4 KiB at a time: one system call serves a room's
    ids, code and more for the next few hundred rooms."""

    SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()  # two threads never get the same bytes
        self._bytes = b""
        self._at = 0

    def take(self, count: int) -> bytes:
        with self._lock:
            at = self._at
            end = at + count
            if end > len(self._bytes):
                self._bytes = os.urandom(max(self.SIZE, count))
                at, end = 0, count
            self._at = end
            return self._bytes[at:end]


_ENTROPY = _OsEntropy()


def _os_bits(bits: int) -> int:
    """Random bits straight from the OS (as `SystemRandom.getrandbits` gives them, faster)."""
    return int.from_bytes(_ENTROPY.take(bits // 8))


class Ids:
    def __init__(self, seed: int | None = None) -> None:
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Start the sequence again from `seed` (None: unpredictable)."""
        self.seed = seed
        self._random: random.Random = random.SystemRandom() if seed is None else random.Random(seed)
        # The key that signs participant tokens, and the `kid` that names it.
        self._set_token_key(self._random.randbytes(32))
        self.token_key_id = self.uuid()
        self._token_header = _token_header(self.token_key_id)
        # The Video API project that session ids name, as the live ids do.
        self.project_id = str(self._random.randint(10_000_000, 99_999_999))
        # The application and account the emulator plays, unless configured.
        self.application_id = self.uuid()
        self.account_id = f"{self._random.getrandbits(32):08x}"

    def uuid(self, bits: int | None = None) -> str:
        """A random (version 4) UUID, as text; from `bits` when given (see `uuid_draw`)."""
        if bits is not None:
            raw = bytearray(bits.to_bytes(16))
        elif self.seed is None:
            raw = bytearray(_ENTROPY.take(16))
        else:
            raw = bytearray(self._random.getrandbits(128).to_bytes(16))
        raw[6] = raw[6] & 0x0F | 0x40  # version 4
        raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def uuid_draw(self) -> int | None:
        """The draw behind a uuid that may never be read, made into one later by `uuid(bits)`.

        A seeded sequence draws now, so every id after it is the same whether or not this
        one is ever read; an unseeded one has no sequence to keep and draws nothing (None),
        and `uuid()` draws when it is read."""
        return None if self.seed is None else self._random.getrandbits(128)

    def uuid_later(self, bits: int | None) -> str:
        """The uuid of a `uuid_draw`; for None (unseeded), from fresh random bits, not from
        this sequence, which may have been seeded again since."""
        return self.uuid(_os_bits(128) if bits is None else bits)

    def meeting_code(self) -> str:
        """A 9-digit candidate; the caller keeps the codes in use and asks again on a clash."""
        if self.seed is None:  # 64 random bits: the modulo's bias is below one in 10**10
            return str(MEETING_CODE_LOW + _os_bits(64) % MEETING_CODE_SPAN)
        return str(self._random.randint(MEETING_CODE_LOW, MEETING_CODE_HIGH))

    def export(self) -> dict[str, Any]:
        """Where a seeded sequence stands (so a restart from a state file goes on from there,
        not over again), and the key that signed the rooms' participant tokens."""
        position = None if self.seed is None else _plain_state(self._random.getstate())
        return {
            "seed": self.seed,
            "position": position,
            "token_key": self._token_key.hex(),
            "token_key_id": self.token_key_id,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        self._set_token_key(bytes.fromhex(saved["token_key"]))
        self.token_key_id = saved["token_key_id"]
        self._token_header = _token_header(self.token_key_id)
        if saved.get("position") is not None and self.seed is not None:
            version, internal, gauss = saved["position"]
            self._random.setstate((version, tuple(internal), gauss))

    def secret(self, size: int = 32) -> bytes:
        """Random bytes for a signing key."""
        return self._random.randbytes(size)

    def fraction(self) -> float:
        """A number in [0, 1): the jitter in callback retry delays."""
        return self._random.random()

    def session_id(self, created_at: datetime) -> str:
        """A Video API style session id: `2_` and URL-safe base64 of
        `1~<project>~~<created ms>~<24 random chars>~~`, unpadded (the `2_MX40...-fg` form)."""
        nonce = "".join(self._random.choice(SESSION_ALPHABET) for _ in range(24))
        raw = f"1~{self.project_id}~~{int(created_at.timestamp() * 1000)}~{nonce}~~"
        return "2_" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    def participant_token(self, participant_id: str, issued_at: datetime) -> str:
        """An HS256 JWT as in the live host URLs: `kid` header; `participantId` and `iat` claims."""
        # Signed here rather than with `jwt.encode`, which cost most of a room's creation. The
        # token is equivalent, not byte-identical (header keys in alg, typ, kid order);
        # `read_participant_token`, and the tests, read it back with PyJWT.
        claims = orjson.dumps({"participantId": participant_id, "iat": int(issued_at.timestamp())})
        signing_input = self._token_header + b"." + _b64url(claims)
        signer = self._token_signer.copy()  # keyed once: OpenSSL's per-call set-up is most of it
        signer.update(signing_input)
        signature = signer.digest()
        return (signing_input + b"." + _b64url(signature)).decode()

    def _set_token_key(self, key: bytes) -> None:
        self._token_key = key
        self._token_signer = hmac.new(key, digestmod=hashlib.sha256)

    def read_participant_token(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this emulator signed, or None when it did not sign it."""
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.token_key_id:
                return None
            return jwt.decode(token, self._token_key, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None


def _plain_state(state: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = state
    return [version, list(internal), gauss]


_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _b64url(data: bytes) -> bytes:
    """Unpadded URL-safe base64 (what `base64.urlsafe_b64encode` gives, less its `=`)."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=")


def _token_header(key_id: str) -> bytes:
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id}
    return _b64url(json.dumps(header, separators=(",", ":")).encode())
