"""The emulator's callback receiver (`meetings_emulator.receiver.create_receiver`) under
uvicorn, plus `GET /_count`: how many callbacks it has taken so far (`?detail=1`: and how many
distinct event ids among them).

    python bench/receiver.py --port P
"""

from __future__ import annotations

import argparse
import json

import uvicorn

from meetings_emulator.callbacks.receiver import Inbox, create_receiver


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    inbox = Inbox()
    receiver = create_receiver(inbox=inbox)

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] == "/_count":
            answer: dict[str, object] = {"count": len(inbox.received)}
            if scope.get("query_string") == b"detail=1":  # costs O(received): not for polling
                ids = {item.headers.get("x-meetings-event-id") for item in inbox.received}
                answer["distinct_ids"] = len(ids)
            body = json.dumps(answer).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await receiver(scope, receive, send)

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
