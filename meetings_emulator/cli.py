"""`meetings-emulator` / `python -m meetings_emulator`: the command line, then uvicorn.

    meetings-emulator [options]                      serve the emulator
    meetings-emulator play SCENARIO [...]            play a scripted meeting (see examples/)
    meetings-emulator receiver [--port N]            print the callbacks it is sent
    meetings-emulator health [--url URL] [--ca FILE] exit 0 when an emulator answers healthy
    meetings-emulator exec [options] -- CMD [ARGS]   serve while CMD runs; exit with its status

Every option can also come from the environment as `MEETINGS_EMULATOR_<NAME>`
(for example `MEETINGS_EMULATOR_PORT=9010`); a flag on the command line wins. Every value
is checked before anything is served: a bad one is named on one line, with exit status 2;
a state file whose content is refused (not JSON, or a snapshot the emulator will not take)
is named the same way, with exit status 1, and left as it is.

SIGINT (Ctrl-C) and SIGTERM stop the server the same way, with exit status 0: requests in
flight get `REQUESTS_GRACE` seconds, callbacks still pending a last attempt within
`CALLBACKS_GRACE`, then the state file is saved; the whole ends within `SHUTDOWN_BOUND`.
Heavy modules (uvicorn, the app) are imported only to serve, so `health` starts quickly.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meetings_emulator import logs
from meetings_emulator.version import __version__

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from meetings_emulator.domain.settings import Settings

from meetings_emulator.config import (
    API_PATH,
    DASHBOARD_PATH,
    DOCS_PATH,
    PROG,
    REQUESTS_GRACE,
    SHUTDOWN_BOUND,
    Config,
    _refuse,
    _unspecified,
    build_parser,
    configure,
    log,
    masked_configuration,
    shown_url,
)
from meetings_emulator.config_values import (
    ConfigError,
)
from meetings_emulator.health import main_health

# -- serving ----------------------------------------------------------------------------------


def create_app(settings: Settings, **kwargs: Any) -> Starlette:
    """`meetings_emulator.app.create_app`, imported when first serving."""
    from meetings_emulator.app import create_app as make

    return make(settings, **kwargs)


def _server_class() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn, announcing where it serves once bound (useful with --port 0) and
        stopping the same way for SIGINT and SIGTERM: no traceback, exit status 0."""

        stopping_on: str | None = None
        stopping_since: float | None = None
        announcing = True  # `exec` says where it serves on the log instead: stdout is CMD's

        def handle_exit(self, sig: int, frame: Any) -> None:
            # uvicorn would raise the signal again once stopped (a KeyboardInterrupt for
            # SIGINT, death by SIGTERM) and skip saving on a second SIGINT: neither here.
            if self.should_exit:
                import asyncio

                with contextlib.suppress(RuntimeError):  # not from a signal handler in a loop
                    asyncio.get_running_loop().call_soon_threadsafe(
                        functools.partial(
                            log.info,
                            "%s again: already stopping (within %g s in all)",
                            signal.Signals(sig).name,
                            SHUTDOWN_BOUND,
                        )
                    )
                return
            self.stopping_on = signal.Signals(sig).name
            self.stopping_since = time.monotonic()
            self.should_exit = True

        async def startup(self, sockets: list | None = None) -> None:  # type: ignore[override]
            await super().startup(sockets)
            # What start-up made (modules, classes, functions: most of what the collector
            # would otherwise rescan at every full collection) lives as long as the process:
            # set it aside, so full collections cost what the rooms and sessions cost.
            gc.collect()
            gc.freeze()
            if self.should_exit or not self.announcing:
                return
            for server in self.servers:
                for sock in server.sockets:
                    host, port = sock.getsockname()[:2]
                    _announce(self.config.is_ssl, host, port)
                    return

        async def shutdown(self, sockets: list | None = None) -> None:
            if self.stopping_on is not None:
                log.info("stopping on %s", self.stopping_on, extra={"signal": self.stopping_on})
            from meetings_emulator.app import stop_waiting

            stop_waiting(self.config.app)  # answers held by `wait=` end now, not cut off
            await super().shutdown(sockets)

    return Server


def _announce(is_ssl: bool, host: str, port: int) -> None:
    base = shown_url("https" if is_ssl else "http", host, port)
    where = "listening on every interface; " if _unspecified(host) else ""
    logs.announce(
        f"{PROG} {__version__} serving {base} ({where}Ctrl-C stops it)",
        [
            f"API        {base}{API_PATH} (and /beta/meetings)",
            f"dashboard  {base}{DASHBOARD_PATH}",
            f"docs       {base}{DOCS_PATH}",
        ],
        url=base,
        api_url=base + API_PATH,
        dashboard_url=base + DASHBOARD_PATH,
        docs_url=base + DOCS_PATH,
    )


@contextlib.contextmanager
def _signals_noted() -> Iterator[list[int]]:
    """Until uvicorn takes over, a SIGINT or SIGTERM is noted (then honoured), not fatal."""
    noted: list[int] = []
    wanted = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda sig, _frame: noted.append(sig)) for sig in wanted}
    try:
        yield noted
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def serve(config: Config) -> int:
    """Serve until SIGINT or SIGTERM, however early it comes; 0 once stopped."""
    with _signals_noted() as noted:
        return _serve(config, noted)


def _serve(config: Config, noted: list[int]) -> int:
    logs.setup(config.log_level, config.log_format)
    server = prepare(config, config.settings)
    if isinstance(server, int):
        return server
    if noted:
        server.handle_exit(noted[0], None)
    server.run()
    if server.stopping_since is not None:
        took = time.monotonic() - server.stopping_since
        log.info("stopped in %.1f s", took, extra={"seconds": round(took, 3)})
    return 0


def prepare(config: Config, settings: Settings) -> Any:
    """The uvicorn server for `settings` (the app built, TLS made, the configuration logged),
    ready to `run`; or, when something is refused (told on stderr), the exit status."""
    import uvicorn

    from meetings_emulator.http.connections import guarded_protocol
    from meetings_emulator.http.tls import TlsError, make_tls
    from meetings_emulator.statefile import StateFileRefused

    files = None
    try:
        tls_options = {}
        if config.tls:
            try:
                files = make_tls(
                    settings.host,
                    extra_names=config.values["tls_hostname"],
                    ca_dir=config.values["tls_dir"],
                )
            except TlsError as problem:
                return _refuse(f"--tls-dir {config.values['tls_dir']}: {problem}")
            settings = replace(settings, tls_ca_pem=files.ca_pem)
            tls_options = {
                "ssl_certfile": str(files.cert_file),
                "ssl_keyfile": str(files.key_file),
            }
            ca_out = config.values["tls_ca_out"]
            if ca_out:
                try:
                    Path(ca_out).write_text(files.ca_pem)
                except OSError as problem:
                    return _refuse(f"--tls-ca-out {ca_out}: {problem.strerror or problem}")
        try:
            app = create_app(settings)
        except StateFileRefused as problem:  # its content: the file is kept as it is
            return _refuse(f"--state-file {settings.state_file}: cannot be loaded: {problem}", 1)
        except Exception as problem:
            if settings.state_file is None:
                raise
            return _refuse(f"--state-file {settings.state_file}: cannot be loaded: {problem}")
        uvicorn_config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,  # `logs.setup` has given uvicorn's loggers their handler
            log_level=None,
            access_log=False,  # each request is logged by the app, at debug
            timeout_graceful_shutdown=REQUESTS_GRACE,  # type: ignore[arg-type]
            # Connections that do not send a whole request in time, or idle too long
            # between requests, are closed: each holds a file descriptor.
            http=guarded_protocol(settings.request_timeout),
            timeout_keep_alive=settings.keep_alive_timeout,  # type: ignore[arg-type]
            lifespan="on",
            **tls_options,
        )
        uvicorn_config.load()  # reads the certificate: its temporary files can go now
    finally:
        if files is not None:
            files.remove_temporary()
    # Rooms are long-lived objects: the default thresholds rescan them all too often
    # (full collections of 0.2 s under a stream of creations). A young generation of
    # 10,000 keeps each pause short (a few ms; 100,000 made pauses of up to 40 ms).
    gc.set_threshold(10_000, 50, 1000)
    shown = masked_configuration(config)
    shown["port"] = settings.port
    log.info(
        "configuration: %s",
        " ".join(f"{name}={'none' if value is None else value}" for name, value in shown.items()),
        extra={"configuration": shown},
    )
    return _server_class()(uvicorn_config)


# -- the command line -------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; Ctrl-C at any moment ends it without a traceback."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _command(argv)
    except KeyboardInterrupt:  # before the server took over the signals, or in a subcommand
        return 130 if argv[:1] in (["play"], ["receiver"], ["health"], ["exec"]) else 0


def _command(argv: list[str]) -> int:
    if argv[:1] == ["play"]:
        from meetings_emulator.play.runner import main_play

        return main_play(argv[1:])
    if argv[:1] == ["receiver"]:
        from meetings_emulator.callbacks.receiver import main_receiver

        return main_receiver(argv[1:])
    if argv[:1] == ["health"]:
        return main_health(argv[1:])
    if argv[:1] == ["exec"]:
        from meetings_emulator.exec_command import main_exec

        return main_exec(argv[1:], prepare)
    args = build_parser().parse_args(argv)
    try:
        config = configure(args)
    except ConfigError as problem:
        return _refuse(str(problem))
    return serve(config)


if __name__ == "__main__":
    sys.exit(main())
