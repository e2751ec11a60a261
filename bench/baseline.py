"""A bare Starlette app on the emulator's uvicorn settings: the ceiling `run.py` compares with.

    python bench/baseline.py --port P [--log-level warning] [any meetings-emulator option]

`GET /v1/meetings/rooms/{room_id}` answers a 3-field JSON; `POST /v1/meetings/rooms` reads
and parses the JSON body, then answers a 3-field JSON (201). No auth, no state: what any
Starlette endpoint costs on this machine. It is served by `meetings_emulator.cli.main`
itself, with its app swapped for this one, so the uvicorn settings are exactly the
emulator's (today: host, port, log level, lifespan on; http and loop left on "auto", which
picks httptools and uvloop, both installed with uvicorn[standard]).
"""

from __future__ import annotations

import json
import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def get_room(request: Request) -> JSONResponse:
    return JSONResponse({"id": request.path_params["room_id"], "status": "ok", "serial": 1})


async def create_room(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    return JSONResponse(
        {
            "id": "00000000-0000-4000-8000-000000000000",
            "display_name": body["display_name"],
            "status": "ok",
        },
        status_code=201,
    )


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/meetings/rooms/{room_id}", get_room, methods=["GET"]),
        Route("/v1/meetings/rooms", create_room, methods=["POST"]),
        Route("/_emulator/health", health, methods=["GET"]),
    ]
)


def main() -> int:
    """Serve `app` through the emulator's own CLI, so the uvicorn settings are its settings
    (`uvicorn.Config` arguments and server class), whatever they become."""
    from meetings_emulator import cli

    cli.create_app = lambda _settings, **_kwargs: app
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
