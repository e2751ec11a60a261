"""Theme logos: presigned S3 upload forms, the emulated S3 bucket, and finalizing.

The live flow, which the emulator serves end to end:
1. `GET /themes/logos-upload-urls` hands out three presigned S3 POST forms, one for each
   logo type (`white`, `colored`, `favicon`). Each names a temporary key,
   `auto-expiring-temp/logos/<type>/<uuid>`, and carries a Policy signed with the
   emulator's secret.
2. The client POSTs a multipart form, all of `fields` and then `file`, to the form's
   `url` (`UPLOAD_PATH`, served by the emulator). S3 answers 204, or an XML `<Error>`.
3. `PUT /themes/{id}/finalizeLogos {"keys": [...]}` checks each uploaded file. When all
   pass, each moves to a permanent key, `logos/<theme_id>/<type>/<uuid>.png`, which the
   caller puts on the theme and which is served at `LOGO_PATH`.

The S3 upload rules (checked in this order; the status is 400 unless noted):
- The fields `key`, `Policy`, `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date` and
  `X-Amz-Signature` must be present: `InvalidArgument`. So must a file: `InvalidArgument`.
  Field names match case-insensitively; fields the policy does not mention are ignored.
- `X-Amz-Signature` must be the hex HMAC-SHA256 of the `Policy` text: 403
  `SignatureDoesNotMatch`.
- The policy must not have expired (forms live `FORM_LIFETIME`, one hour): 403
  `AccessDenied`.
- Every field the policy names must match it (`key`, `Content-Type`): 403 `AccessDenied`.
- The file may be at most `MAX_UPLOAD_BYTES` (5 MiB): `EntityTooLarge`.
A new upload under a key replaces the old one. A temporary upload is gone
`TEMP_UPLOAD_LIFETIME` (one hour) after it was made, as under the bucket's lifecycle rule,
or sooner when the temporary uploads held pass `MAX_TEMP_UPLOAD_BYTES` (the oldest go
first). Each key belongs to the tenant whose call handed out its form: the store remembers
the last `MAX_ISSUED_KEYS` keys it handed out, for as long as their forms live.

The finalize rules, from the public "Uploading Icons and Logos" guide; every problem of
every key is reported, and nothing changes unless all keys pass:
- The key must name a temporary upload that is still there, made with a form handed out to
  the tenant finalizing it (another tenant's key is as unknown as a missing one):
  `key_not_found`.
- At most `MAX_LOGO_BYTES` (1 MiB): `exceeds_size`.
- A PNG that decodes: `type`.
- `white` and `colored` logos: width and height each 1-300 px. A favicon: square,
  16x16 to 32x32 px: `dimensions`.
- A transparent background (the guide asks it of logos and favicons alike): an alpha
  channel or a tRNS transparent colour, and all four corner pixels fully transparent:
  `transparent_bg`.
When one call names a logo type twice, the later key wins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import struct
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.errors import BadRequestError
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.isotime import format_iso, parse_iso
from meetings_emulator.domain.models import DEFAULT_TENANT

if TYPE_CHECKING:
    from PIL import Image

LOGO_TYPES = ("white", "colored", "favicon")
BUCKET = "roomservice-whitelabel-logos-prod"
# Where the HTTP layer serves the emulated bucket's POST uploads.
UPLOAD_PATH = "/_emulator/s3/" + BUCKET
# Where finalized images are served; the key contains slashes.
LOGO_PATH = "/_emulator/logos/{key}"

CONTENT_TYPE = "image/png"
REGION = "us-east-1"
ALGORITHM = "AWS4-HMAC-SHA256"
TEMP_PREFIX = "auto-expiring-temp/logos/"
FORM_LIFETIME = timedelta(hours=1)
TEMP_UPLOAD_LIFETIME = timedelta(hours=1)
MAX_UPLOAD_BYTES = 5 * 1024 * 1024  # the policy's content-length-range
MAX_LOGO_BYTES = 1024 * 1024  # the guide's "Maximum size: 1MB"
# What the temporary uploads may hold in all; past it the oldest are dropped, as if expired.
MAX_TEMP_UPLOAD_BYTES = 64 * 1024 * 1024
# Upload keys handed out and remembered (with their tenant) while their forms live.
MAX_ISSUED_KEYS = 30_000

# Dimension bounds, inclusive, from the guide ("Logo: Dimensions: 1 px - 300 px";
# "Favicon: 16 x 16 - 32 x 32 and must be square"). The guide gives one range for logos;
# it is read as applying to the width and the height alike.
LOGO_MIN_SIDE = 1
LOGO_MAX_SIDE = 300
FAVICON_MIN_SIDE = 16
FAVICON_MAX_SIDE = 32
# The guide asks a transparent background of every logo type, the favicon included.
TRANSPARENT_TYPES = frozenset(LOGO_TYPES)
# Images with more pixels than this are not decoded at all (they fail `dimensions` anyway),
# so a small file that claims a huge image cannot make the emulator allocate gigabytes.
MAX_DECODED_PIXELS = 2048 * 2048

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEMP_KEY = re.compile(r"auto-expiring-temp/logos/(white|colored|favicon)/[^/]+")
REQUIRED_FIELDS = (
    "key",
    "Policy",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Signature",
)


def logo_url(base_url: str, key: str) -> str:
    """The link at which the emulator serves a finalized image."""
    return base_url.rstrip("/") + LOGO_PATH.format(key=key)


# What XML 1.0 cannot hold at all, even escaped: most control characters, lone surrogates.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: str) -> str:
    """`value` as XML text; characters XML cannot carry become U+FFFD."""
    return escape(NOT_XML.sub("\ufffd", value))


class S3Error(Exception):
    """An S3 error, answered as S3 answers it: an XML `<Error>` body with `status`."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        details: dict[str, str] | None = None,
        request_id: str = "0000000000000000",
        host_id: str = "",
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.details = details or {}  # extra elements S3 adds, e.g. ArgumentName
        self.request_id = request_id
        self.host_id = host_id

    def xml(self) -> bytes:
        """The error body, as S3 writes it."""
        parts = [("Code", self.code), ("Message", self.message), *self.details.items()]
        parts += [("RequestId", self.request_id), ("HostId", self.host_id)]
        inner = "".join(f"<{name}>{_xml_text(value)}</{name}>" for name, value in parts)
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{inner}</Error>'.encode()


@dataclass
class LogoProblem:
    """One reason a key cannot be finalized, as an item of the 400's `errors`."""

    logo_key: str
    code: str  # key_not_found | invalid_logo_properties
    invalid_property: str | None = None  # exceeds_size | type | dimensions | transparent_bg

    def as_json(self) -> dict[str, str]:
        body = {"logoKey": self.logo_key, "code": self.code}
        if self.invalid_property is not None:
            body["invalidProperty"] = self.invalid_property
        return body


class LogosInvalid(Exception):
    """finalizeLogos refused: every problem found, in the order of the keys."""

    message = "could not finalize logos"

    def __init__(self, problems: list[LogoProblem]) -> None:
        super().__init__(self.message)
        self.problems = problems

    def to_error(self) -> BadRequestError:
        """The API's 400: `could not finalize logos`, with each problem in `errors`."""
        return BadRequestError(self.message, [problem.as_json() for problem in self.problems])


@dataclass(frozen=True)
class _Upload:
    data: bytes
    filename: str | None
    uploaded_at: datetime
    tenant: str | None  # whose form named the key; None: a key this store did not hand out


class LogoStore:
    """The emulated bucket: temporary uploads and finalized logos, all in memory."""

    def __init__(self, clock: Clock, ids: Ids, secret: bytes) -> None:
        self._clock = clock
        self._ids = ids
        self._secret = secret
        self._lock = threading.Lock()
        self._uploads: dict[str, _Upload] = {}  # temporary key -> upload, oldest first
        self._upload_bytes = 0  # what `_uploads` holds in all
        self._issued: dict[str, tuple[str, datetime]] = {}  # key -> (tenant, form expiry)
        self._images: dict[str, bytes] = {}  # permanent key -> PNG bytes
        # Temporary credentials of the kind the live forms carry, fixed for this store.
        digest = self._digest(b"access-key")
        self.access_key_id = "ASIA" + base64.b32encode(digest).decode()[:16]
        self.security_token = "IQoJb3JpZ2luX2VjE" + base64.b64encode(
            self._digest(b"session-token") * 6
        ).decode().rstrip("=")

    # -- the upload forms ---------------------------------------------------------------

    def upload_forms(self, base_url: str, tenant: str = DEFAULT_TENANT) -> list[dict[str, Any]]:
        """One presigned POST form per logo type, shaped as the live API's; their keys
        belong to `tenant`."""
        now = self._clock.now()
        url = base_url.rstrip("/") + UPLOAD_PATH
        amz_date = f"{now:%Y%m%dT%H%M%SZ}"
        credential = f"{self.access_key_id}/{now:%Y%m%d}/{REGION}/s3/aws4_request"
        forms = []
        with self._lock:
            self._forget_issued(now)
            for logo_type in LOGO_TYPES:
                key = f"{TEMP_PREFIX}{logo_type}/{self._ids.uuid()}"
                self._issued[key] = (tenant, now + FORM_LIFETIME)
                policy = self._policy(key, now + FORM_LIFETIME)
                fields = {
                    "Content-Type": CONTENT_TYPE,
                    "key": key,
                    "logoType": logo_type,
                    "bucket": BUCKET,
                    "X-Amz-Algorithm": ALGORITHM,
                    "X-Amz-Credential": credential,
                    "X-Amz-Date": amz_date,
                    "X-Amz-Security-Token": self.security_token,
                    "Policy": policy,
                    "X-Amz-Signature": self._sign(policy),
                }
                forms.append({"url": url, "fields": fields})
        return forms

    def _forget_issued(self, now: datetime) -> None:
        """Forget the keys whose forms have expired (they were handed out in time order),
        and the oldest past `MAX_ISSUED_KEYS - len(LOGO_TYPES)`."""
        issued = self._issued
        for key, (_, expires) in list(issued.items()):
            if expires > now and len(issued) <= MAX_ISSUED_KEYS - len(LOGO_TYPES):
                break
            del issued[key]

    def _policy(self, key: str, expiration: datetime) -> str:
        document = {
            "expiration": format_iso(expiration),
            "conditions": [
                {"bucket": BUCKET},
                ["eq", "$key", key],
                ["eq", "$Content-Type", CONTENT_TYPE],
                ["content-length-range", 0, MAX_UPLOAD_BYTES],
            ],
        }
        return base64.b64encode(json.dumps(document).encode()).decode()

    def _sign(self, policy: str) -> str:
        return hmac.new(self._secret, policy.encode(), hashlib.sha256).hexdigest()

    def _digest(self, label: bytes) -> bytes:
        return hmac.new(self._secret, label, hashlib.sha256).digest()

    # -- the bucket's POST upload -------------------------------------------------------

    def accept_upload(
        self, fields: dict[str, str], file: bytes | None, filename: str | None
    ) -> None:
        """Store `file` under the form's key, or raise `S3Error` as S3 would."""
        lower = {name.lower(): value for name, value in fields.items()}
        for name in REQUIRED_FIELDS:
            if name.lower() not in lower:
                raise self._error(
                    "InvalidArgument",
                    f"Bucket POST must contain a field named '{name}'.  "
                    "If it is specified, please check the order of the fields.",
                    details={"ArgumentName": name, "ArgumentValue": ""},
                )
        if file is None:
            raise self._error(
                "InvalidArgument",
                "POST requires exactly one file upload per request.",
                details={"ArgumentName": "file", "ArgumentValue": "0"},
            )
        policy_text = lower["policy"]
        signature = lower["x-amz-signature"]
        if not hmac.compare_digest(signature.encode(), self._sign(policy_text).encode()):
            raise self._error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you "
                "provided. Check your key and signing method.",
                403,
                details={
                    "AWSAccessKeyId": lower["x-amz-credential"].partition("/")[0],
                    "StringToSign": policy_text,
                    "SignatureProvided": signature,
                    # As S3 writes it: each byte of the string to sign, in hex, spaced.
                    "StringToSignBytes": policy_text.encode().hex(" "),
                },
            )
        policy = self._read_policy(policy_text)
        expiration = parse_iso(str(policy.get("expiration")))
        if expiration is None or expiration <= self._clock.now():
            raise self._error("AccessDenied", "Invalid according to Policy: Policy expired.", 403)
        for condition in policy.get("conditions", []):
            self._check_condition(condition, lower, len(file))
        key = lower["key"]
        now = self._clock.now()
        with self._lock:
            issued = self._issued.get(key)
            self._drop_expired()
            previous = self._uploads.pop(key, None)
            if previous is not None:
                self._upload_bytes -= len(previous.data)
            self._uploads[key] = _Upload(file, filename, now, issued[0] if issued else None)
            self._upload_bytes += len(file)
            while self._upload_bytes > MAX_TEMP_UPLOAD_BYTES:  # the oldest go first
                self._drop(next(iter(self._uploads)))

    def too_large(self, proposed: int | None = None) -> S3Error:
        """S3's refusal of a body past what the policy's content-length-range allows
        (`proposed`: its size, when the request announced it)."""
        details = {} if proposed is None else {"ProposedSize": str(proposed)}
        details["MaxSizeAllowed"] = str(MAX_UPLOAD_BYTES)
        return self._error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            details=details,
        )

    def malformed(self) -> S3Error:
        """S3's refusal of a body that is no multipart form it can read."""
        return self._error(
            "MalformedPOSTRequest",
            "The body of your POST request is not well-formed multipart/form-data.",
        )

    def _read_policy(self, text: str) -> dict[str, Any]:
        try:
            policy = json.loads(base64.b64decode(text, validate=True))
        except ValueError:
            policy = None
        if not isinstance(policy, dict):
            raise self._error("InvalidPolicyDocument", "Invalid Policy: Invalid JSON.")
        return policy

    def _check_condition(self, condition: Any, fields: dict[str, str], size: int) -> None:
        if isinstance(condition, list) and condition and condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if size > high:
                raise self._error(
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    details={"ProposedSize": str(size), "MaxSizeAllowed": str(high)},
                )
            if size < low:
                raise self._error(
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    details={"ProposedSize": str(size), "MinSizeAllowed": str(low)},
                )
            return
        if isinstance(condition, dict):  # {"field": value} means ["eq", "$field", value]
            [(name, expected)] = condition.items()
            operator = "eq"
        else:
            operator, name, expected = condition
        name = name.lstrip("$").lower()
        # The bucket is the one in the URL, which the HTTP layer serves only for BUCKET.
        actual = BUCKET if name == "bucket" else fields.get(name)
        if actual is None or not (
            actual == expected if operator == "eq" else actual.startswith(expected)
        ):
            raise self._error(
                "AccessDenied",
                f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}",
                403,
            )

    def _error(
        self, code: str, message: str, status: int = 400, details: dict[str, str] | None = None
    ) -> S3Error:
        request_id = self._ids.uuid().replace("-", "")[:16].upper()
        host_id = base64.b64encode(
            hashlib.sha512(request_id.encode() + self._secret).digest()[:56]
        ).decode()
        return S3Error(code, message, status, details, request_id, host_id)

    # -- finalizing ---------------------------------------------------------------------

    def finalize(
        self, theme_id: str, keys: list[str], tenant: str = DEFAULT_TENANT
    ) -> dict[str, tuple[str, str]]:
        """Make the uploads under `keys` permanent for `theme_id`, a theme of `tenant`.

        Returns `{logo_type: (permanent key, content type)}`, or raises `LogosInvalid` with
        every problem found, leaving everything as it was. An upload under a key handed
        out to another tenant is not found.
        """
        with self._lock:
            self._drop_expired()
            problems: list[LogoProblem] = []
            chosen: dict[str, str] = {}  # logo type -> temporary key; the later key wins
            for key in keys:
                match = TEMP_KEY.fullmatch(key) if isinstance(key, str) else None
                upload = self._uploads.get(key) if match else None
                if upload is not None and upload.tenant != tenant:
                    upload = None
                if match is None or upload is None:
                    problems.append(LogoProblem(str(key), "key_not_found"))
                    continue
                logo_type = match.group(1)
                found = inspect_logo(logo_type, upload.data)
                problems += [LogoProblem(key, "invalid_logo_properties", p) for p in found]
                chosen[logo_type] = key
            if problems:
                raise LogosInvalid(problems)
            data = {key: self._uploads[key].data for key in chosen.values()}
            for key in keys:
                self._drop(key)  # every key named is used up, winners or not
            result = {}
            for logo_type, key in chosen.items():
                permanent = f"logos/{theme_id}/{logo_type}/{self._ids.uuid()}.png"
                self._images[permanent] = data[key]
                result[logo_type] = (permanent, CONTENT_TYPE)
            return result

    def _drop_expired(self) -> None:
        cutoff = self._clock.now() - TEMP_UPLOAD_LIFETIME
        for key in [k for k, upload in self._uploads.items() if upload.uploaded_at < cutoff]:
            self._drop(key)

    def _drop(self, key: str) -> None:
        upload = self._uploads.pop(key, None)
        if upload is not None:
            self._upload_bytes -= len(upload.data)

    # -- serving ------------------------------------------------------------------------

    def export(self) -> dict[str, str]:
        """The finalized images, base64 (temporary uploads are not kept)."""
        with self._lock:
            return {key: base64.b64encode(data).decode() for key, data in self._images.items()}

    def restore(self, images: dict[str, str]) -> None:
        with self._lock:
            self._images = {key: base64.b64decode(data) for key, data in images.items()}

    def image(self, key: str) -> bytes | None:
        """The bytes of a finalized image, or None if no image has that key."""
        with self._lock:
            return self._images.get(key)


def inspect_logo(logo_type: str, data: bytes) -> list[str]:
    """The invalid properties of an image for a logo type: empty when it is acceptable."""
    problems = []
    if len(data) > MAX_LOGO_BYTES:
        problems.append("exceeds_size")
    size = _png_size(data)
    if size is None:
        return [*problems, "type"]
    width, height = size
    fits = _dimensions_fit(logo_type, width, height)
    if width * height > MAX_DECODED_PIXELS:
        return [*problems, "dimensions"]
    from PIL import Image  # only when a logo is checked: it costs start-up time

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.verify()  # chunk structure and checksums
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.format != "PNG":
                return [*problems, "type"]
            image.load()  # decompresses every pixel: catches truncated or corrupt data
            transparent = _corners_transparent(image)
    except Exception:  # Pillow reports broken files with many exception types
        return [*problems, "type"]
    if not fits:
        problems.append("dimensions")
    if logo_type in TRANSPARENT_TYPES and not transparent:
        problems.append("transparent_bg")
    return problems


def _png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG's IHDR chunk, or None when the data is no PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    if width == 0 or height == 0:
        return None
    return width, height


def _dimensions_fit(logo_type: str, width: int, height: int) -> bool:
    if logo_type == "favicon":
        return width == height and FAVICON_MIN_SIDE <= width <= FAVICON_MAX_SIDE
    return all(LOGO_MIN_SIDE <= side <= LOGO_MAX_SIDE for side in (width, height))


def _corners_transparent(image: Image.Image) -> bool:
    """True when the image can be transparent and its four corner pixels are."""
    if "A" not in image.getbands() and "transparency" not in image.info:
        return False
    rgba = image.convert("RGBA")
    right, bottom = rgba.width - 1, rgba.height - 1
    corners = [(0, 0), (right, 0), (0, bottom), (right, bottom)]
    return all(rgba.getpixel(corner)[3] == 0 for corner in corners)
