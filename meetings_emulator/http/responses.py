"""JSON answers: compact UTF-8 bodies encoded by orjson, typed as the live service (Express)
typed them: `application/json; charset=utf-8`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import JSONResponse

CONTENT_TYPE = "application/json; charset=utf-8"

_CONTENT_TYPE_BYTES = CONTENT_TYPE.encode()


class JSONBody(JSONResponse):
    """A JSON response as Starlette's (compact, UTF-8, same headers), encoded by orjson.

    A body orjson refuses (an integer past 64 bits, a key that is not a string) falls back
    to the standard library, so every body Starlette could write is still written."""

    media_type = CONTENT_TYPE

    def __init__(
        self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
    ) -> None:
        if headers is not None or not 200 <= status_code < 600 or status_code in (204, 304):
            super().__init__(content, status_code, headers)
            return
        # Starlette's headers for a JSON body with content, without its general checks.
        self.status_code = status_code
        self.background = None
        self.body = body = self.render(content)
        self.raw_headers = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", _CONTENT_TYPE_BYTES),
        ]

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


def json_response(
    body: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONBody(body, status_code=status_code, headers=headers)
