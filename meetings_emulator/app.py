"""`create_app`: the one place the emulator is wired together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from meetings_emulator import statefile
from meetings_emulator.callbacks.sender import Sender
from meetings_emulator.domain import snapshot
from meetings_emulator.domain.clock import Clock
from meetings_emulator.domain.emulator import Emulator
from meetings_emulator.domain.errors import MeetingsError
from meetings_emulator.domain.ids import Ids
from meetings_emulator.domain.settings import Settings
from meetings_emulator.domain.snapshot_check import Refused
from meetings_emulator.domain.tenancy import Tenancy
from meetings_emulator.http import api, control
from meetings_emulator.http.errors import on_http_error, on_meetings_error, on_unexpected_error
from meetings_emulator.http.waiting import Changes
from meetings_emulator.testing import endpoints, middleware, tenants
from meetings_emulator.ui import routes as ui_routes

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("meetings_emulator")

# How long the real-time runner sleeps at most, so a moved clock or a new timer is noticed.
RUNNER_MAX_SLEEP = timedelta(milliseconds=250)
RUNNER_MIN_SLEEP = timedelta(milliseconds=5)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    ids: Ids | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    run_timers: bool = True,
) -> Starlette:
    """An ASGI app serving the API and the control plane over one `Emulator`.

    `clock` and `ids` replace the real-time clock and the random id source (tests pass a
    frozen clock and a seed); `transport` replaces the network for callbacks (an
    `httpx.MockTransport`, say). With `run_timers`, the app's lifespan runs due transitions
    in real time; without it they still happen, at the latest on the next request.
    Callbacks are sent while the lifespan runs (`with TestClient(app)`, or a server).
    With a `state_file`, its content is loaded whole or not at all: `StateFileRefused`
    (from `statefile`) names what is wrong with it.
    """
    emulator = Emulator(settings, clock=clock, ids=ids)
    tenancy = Tenancy(emulator)
    sender = Sender(lambda: emulator.callbacks, emulator.clock, transport=transport)
    # The delivery log's changes wake the sender and the answers waiting on the log
    # (`GET /_emulator/callbacks?wait=`). A reset carries `notify` over to the new outbox.
    deliveries_changed = Changes()

    def outbox_changed() -> None:
        sender.wake()
        deliveries_changed.notify()

    emulator.callbacks.notify = outbox_changed
    state_file = emulator.settings.state_file
    if state_file is not None:
        statefile.remove_orphans(state_file)
        saved = statefile.load(state_file)
        if saved is not None:
            try:
                snapshot.load_state(emulator, saved)
            except Refused as refused:
                raise statefile.StateFileRefused(refused.problem) from None
            statefile.log_loaded(state_file, saved)
        else:
            log.info("no state file at %s yet: starting empty", state_file)

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        emulator.callbacks.notify = outbox_changed
        tasks = [asyncio.create_task(sender.run())]
        worlds.start_all()
        if run_timers:
            tasks.append(asyncio.create_task(_run_due_transitions(tenancy)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            grace = emulator.settings.shutdown_grace
            try:
                await asyncio.gather(sender.close(grace), worlds.close(grace))
            finally:  # the state is saved whatever happened to the callbacks
                if state_file is not None:
                    _save(state_file, emulator)

    app = Starlette(
        routes=[
            *api.routes(),
            *control.routes(),
            *ui_routes(),
            *endpoints.routes(),
            *tenants.routes(),
        ],
        exception_handlers={
            MeetingsError: on_meetings_error,
            HTTPException: on_http_error,
            Exception: on_unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    app.state.tenancy = tenancy
    app.state.deliveries_changed = deliveries_changed
    worlds = middleware.install(app, sender, tenancy, transport)
    worlds.on_outbox_change = deliveries_changed.notify  # every tenant's log wakes waiters
    return app


def stop_waiting(app: Starlette) -> None:
    """The server is stopping: every answer held by `wait=` (on the delivery log or the
    request journal) is given now, with what there is, rather than cut off unanswered."""
    app.state.deliveries_changed.end()
    app.state.resilience.journal_changed.end()


def _save(state_file: str, emulator: Emulator) -> None:
    """Save at shutdown; a failure is logged in one line (the server still stops)."""
    try:
        statefile.save(state_file, snapshot.export_state(emulator))
    except (OSError, ValueError) as problem:  # ValueError: text that UTF-8 cannot hold
        reason = getattr(problem, "strerror", None) or problem
        log.error("could not save the state to %s: %s", state_file, reason)


async def _run_due_transitions(tenancy: Tenancy) -> None:
    """Make expiry and the other timed rules happen by themselves in real time, in every
    tenant whose clock runs (a frozen clock only moves when told, and runs its
    transitions then)."""
    while True:
        wait = RUNNER_MAX_SLEEP
        for emulator in tenancy.emulators():
            if emulator.clock.frozen and emulator is not tenancy.default:
                continue
            try:
                now = emulator.now()
            except Exception:
                log.exception("a timed transition failed")
                now = emulator.clock.now()
            due = emulator.timers.next_due()
            if due is not None:
                wait = min(wait, due - now)
        await asyncio.sleep(max(wait, RUNNER_MIN_SLEEP).total_seconds())
