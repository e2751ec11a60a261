"""Pages for people: the dashboard, the meeting page and their event stream.

- `ui/pages.py`: the shell every page shares, the UI's paths, and the static assets.
- `ui/dashboard.py`: the dashboard page and the state it shows.
- `ui/event_stream.py`: that state, live, as server-sent events.
- `ui/meeting.py`: the local meeting page and the join behind it.

`routes()` is every route of the UI; the app mounts them.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from meetings_emulator.domain.settings import LOCAL_MEETING_PATH
from meetings_emulator.http.routing import method_route
from meetings_emulator.ui.dashboard import dashboard_page
from meetings_emulator.ui.event_stream import events
from meetings_emulator.ui.meeting import meet_join, meeting_page
from meetings_emulator.ui.pages import (
    EVENTS_PATH,
    MEET_JOIN_PATH,
    STATIC_PATH,
    UI_PATH,
    static_asset,
)


def routes() -> list[BaseRoute]:
    return [
        method_route(UI_PATH, {"GET": dashboard_page}),
        method_route(EVENTS_PATH, {"GET": events}),
        method_route(STATIC_PATH + "/{name}", {"GET": static_asset}),
        method_route(MEET_JOIN_PATH, {"POST": meet_join}),
        method_route(LOCAL_MEETING_PATH + "/{rest:path}", {"GET": meeting_page}),
    ]
