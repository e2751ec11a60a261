"""`meetings-emulator exec [options] -- CMD [ARGS...]`: serve the emulator while CMD runs.

It takes the serving command's options (the same table, so the same flags, variables and
checks), listens on a free port unless `--port` (or `MEETINGS_EMULATOR_PORT`) names one,
waits until `/_emulator/health` answers healthy, then runs CMD, not through a shell, with
its standard streams and this environment plus:

    MEETINGS_EMULATOR_URL       the emulator's base URL, http://127.0.0.1:PORT (https with --tls)
    MEETINGS_EMULATOR_API_URL   that URL + /v1/meetings: the base of the API's paths, as the
                                pytest plugin's `api_url` and the Python SDK's host name it

Once CMD ends, the emulator stops as it does on SIGTERM (the state file saved), and `exec`
exits with CMD's status: 128+N if a signal N killed it, 127 if it is not found (said before
the emulator starts) and 126 if it cannot be run, as shells say. What keeps the emulator
from serving gives the status serving gives (2 a bad option, 1 a state file it cannot
load, 3 a port it cannot listen on), and CMD is not run.

Why the emulator runs in this process, on a thread, rather than as a child process:

- One process holds the port: if `exec` is killed outright (SIGKILL, a CI runner's timeout),
  the listening socket goes with it; a child server would be left serving, orphaned.
- The state file is saved by the app's own lifespan, the very shutdown serving uses, when
  the server thread is told to stop; no signal has to be relayed to a second process and
  waited for.
- Signals have one owner. SIGINT and SIGTERM are blocked in every thread (threads made later
  inherit the mask) and the main thread, which does nothing else but wait for CMD, takes them
  with `sigtimedwait`, which says who sent each. One sent by a process (`kill`, a CI runner)
  is passed on to CMD. One sent by the terminal (Ctrl-C) is not: CMD shares this process
  group, so the terminal already sent it there, and a program seeing Ctrl-C twice often
  takes the second as "stop at once". A signal that comes before CMD starts means CMD is not
  run (exit status 128+N). Where `sigtimedwait` is missing (macOS), each SIGINT and SIGTERM
  is passed on from a handler instead, so Ctrl-C reaches CMD twice there.
- The socket is bound before the app is built, so the settings carry the real port even
  when it was picked free: the rooms' local links and the recordings' URLs name it.

CMD is started with `posix_spawnp`, which, unlike `fork`, is safe beside the server's thread,
and sets CMD's signal mask empty and SIGPIPE and SIGXFSZ back to their defaults.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from meetings_emulator.config import (
    API_PATH,
    ENV_PREFIX,
    HEALTH_PATH,
    PROG,
    _refuse,
    build_parser,
    configure,
    log,
    shown_url,
)
from meetings_emulator.config_values import ConfigError
from meetings_emulator.health import unhealthy
from meetings_emulator.version import __version__

URL_VARIABLE = "MEETINGS_EMULATOR_URL"
API_URL_VARIABLE = "MEETINGS_EMULATOR_API_URL"
FORWARDED = frozenset({signal.SIGINT, signal.SIGTERM})
HEALTHY_WITHIN = 10.0  # seconds from the server's start to a healthy answer, at most
TICK = 0.1  # seconds between looks at CMD when no signal wakes the wait

USAGE = f"{PROG} exec [options] -- CMD [ARGS...]"
DESCRIPTION = (
    "Start the emulator on a free port (unless --port or its variable names one: --port's"
    " default below is serving's), wait until it is healthy, run CMD (not through a shell) with"
    f" {URL_VARIABLE} (its base URL) and {API_URL_VARIABLE} (that URL + {API_PATH}) in its"
    " environment, then stop the emulator (saving --state-file) and exit with CMD's status."
)
EPILOG = (
    " SIGINT and SIGTERM sent to exec are passed on to CMD (Ctrl-C reaches CMD from the"
    " terminal itself). Exit status: CMD's; 128+N if signal N killed it; 127 if CMD is not"
    " found, 126 if it cannot be run; 2 for a bad option, 1 for a state file it cannot load"
    " and 3 if it cannot listen, as serving says them."
)

Prepare = Callable[[Any, Any], Any]  # (Config, Settings) -> a uvicorn server, or an exit status


def main_exec(argv: Sequence[str], prepare: Prepare) -> int:
    """The `exec` subcommand; `prepare` is how serving builds its server (cli.prepare)."""
    argv = list(argv)
    split = argv.index("--") if "--" in argv else len(argv)
    options, command = argv[:split], argv[split + 1 :]
    parser = build_parser(
        prog=f"{PROG} exec", usage=USAGE, description=DESCRIPTION, epilog=EPILOG
    )
    args, unknown = parser.parse_known_args(options)
    if unknown:
        hint = "" if "--" in argv else "; the command goes after --"
        parser.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    if not command:
        parser.error(f"no command to run: {USAGE}")
    if not hasattr(os, "posix_spawnp"):
        return _say("needs a POSIX system (posix_spawn)", 2)
    if _not_found(command[0]):  # said before the emulator starts for nothing
        return _say(_not_found_message(command[0]), 127)
    if args.port is None and not os.environ.get(ENV_PREFIX + "PORT", "").strip():
        args.port = "0"  # a free one, unless the port was named
    with _signals_taken() as signals:
        try:
            config = configure(args)
        except ConfigError as problem:
            return _refuse(str(problem))
        return _exec(config, command, prepare, signals)


def _exec(config: Any, command: list[str], prepare: Prepare, signals: _Signals) -> int:
    from meetings_emulator import logs

    logs.setup(config.log_level, config.log_format)
    settings = config.settings
    try:
        listener = _listen(settings.host, settings.port)
    except OSError as problem:
        where = shown_url("http", settings.host, settings.port).split("://")[1]
        return _refuse(f"cannot listen on {where}: {problem.strerror or problem}", _failed())
    with listener:
        settings = replace(settings, port=listener.getsockname()[1])
        server = prepare(config, settings)
        if isinstance(server, int):
            return server
        server.announcing = False  # stdout is CMD's
        url = shown_url("https" if config.tls else "http", settings.host, settings.port)
        thread = threading.Thread(target=_run, args=(server, listener), name="emulator")
        thread.start()
        try:
            problem = _until_healthy(server, thread, url, signals)
            if isinstance(problem, int):  # a signal before CMD: it is not run
                name = signal.Signals(problem).name
                log.info("%s before the command started: not running it", name)
                return 128 + problem
            if problem is not None:
                return _say(f"the emulator did not answer healthy: {problem}", _failed())
            status = _run_command(command, url, signals)
            log.info(
                "stopping: the command ended with status %d",
                status,
                extra={"exit_status": status},
            )
            return status
        finally:
            _stop(server, thread)


def _failed() -> int:
    """The exit status serving gives when the server cannot start (uvicorn's)."""
    from uvicorn.config import STARTUP_FAILURE

    return STARTUP_FAILURE


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket as uvicorn binds one (`Config.bind_socket`), not inherited by CMD."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except BaseException:
        listener.close()
        raise
    return listener


def _run(server: Any, listener: socket.socket) -> None:
    try:
        server.run(sockets=[listener])
    except SystemExit:  # uvicorn's way out when it cannot start: `server.started` says it
        pass
    except Exception:
        log.exception("the emulator stopped serving")


def _until_healthy(
    server: Any, thread: threading.Thread, url: str, signals: _Signals
) -> str | int | None:
    """None once the emulator answers healthy; else what went wrong, or the signal that came."""
    deadline = time.monotonic() + HEALTHY_WITHIN
    problem = "it did not start"
    while time.monotonic() < deadline:
        taken = signals.take(0.01)  # first: one sent while the app was being built, say
        if taken is not None:
            return taken[0]
        if not thread.is_alive():
            return "it stopped before serving"
        if server.started:
            answer = unhealthy(url + HEALTH_PATH, timeout=2)
            if answer is None:
                return None
            problem = f"{url}{HEALTH_PATH}{answer}"
    return f"{problem} (within {HEALTHY_WITHIN:g} s)"


def _run_command(command: list[str], url: str, signals: _Signals) -> int:
    """CMD's exit status as a shell gives it, passing SIGINT and SIGTERM on while it runs."""
    environment = {**os.environ, URL_VARIABLE: url, API_URL_VARIABLE: url + API_PATH}
    log.info(
        "%s %s serving %s while running %s",
        PROG,
        __version__,
        url,
        shlex.join(command),
        extra={"url": url, "api_url": url + API_PATH, "command": command},
    )
    try:
        pid = os.posix_spawnp(
            command[0],
            command,
            environment,
            setsigmask=(),
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),  # Python ignores them; CMD should not
        )
    except FileNotFoundError:
        return _say(_not_found_message(command[0]), 127)
    except OSError as problem:  # not executable, a folder, ...
        return _say(f"{command[0]}: {problem.strerror or problem}", 126)
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(wait_status)
            return 128 - code if code < 0 else code
        taken = signals.take(TICK)
        if taken is None:
            continue
        sig, from_terminal = taken
        name = signal.Signals(sig).name
        if from_terminal and _same_group(pid):
            log.info("%s from the terminal, which sent it to the command too", name)
            continue
        log.info("passing %s on to the command", name, extra={"signal": name})
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _not_found(name: str) -> bool:
    """True when nothing by `name` could be run: no file at a path, no executable on PATH."""
    return not os.path.lexists(name) if "/" in name else shutil.which(name) is None


def _not_found_message(name: str) -> str:
    """As shells say it: a name is looked for on PATH, a path is taken as it is."""
    return f"{name}: {'No such file or directory' if '/' in name else 'command not found'}"


def _say(message: str, status: int) -> int:
    print(f"{PROG} exec: {message}", file=sys.stderr, flush=True)
    return status


def _same_group(pid: int) -> bool:
    try:
        return os.getpgid(pid) == os.getpgrp()
    except ProcessLookupError:
        return True  # gone: nothing to pass on


def _stop(server: Any, thread: threading.Thread) -> None:
    """Stop the server as SIGTERM stops it, and wait (the state file is saved meanwhile)."""
    started = time.monotonic()
    server.should_exit = True
    thread.join()
    took = time.monotonic() - started
    log.info("stopped in %.1f s", took, extra={"seconds": round(took, 3)})


# -- signals ----------------------------------------------------------------------------------


class _Signals:
    """The SIGINT and SIGTERM sent to this process, taken one at a time."""

    def __init__(self) -> None:
        self.caught: list[int] = []  # where sigtimedwait is missing: noted by a handler

    def take(self, timeout: float) -> tuple[int, bool] | None:
        """The next signal and whether the terminal sent it, waiting up to `timeout`."""
        if hasattr(signal, "sigtimedwait"):
            info = signal.sigtimedwait({*FORWARDED, signal.SIGCHLD}, timeout)
            if info is None or info.si_signo == signal.SIGCHLD:
                return None
            # A process sends with a code of 0 or less (SI_USER, SI_QUEUE, SI_TKILL); the
            # kernel, which sends what the terminal's keys ask for, with a positive one.
            return info.si_signo, info.si_code > 0
        if not self.caught and timeout:
            time.sleep(timeout)  # a handler's signal cuts it short
        return (self.caught.pop(0), False) if self.caught else None


@contextlib.contextmanager
def _signals_taken() -> Iterator[_Signals]:
    """SIGINT and SIGTERM held for `_Signals.take`, in this thread and the threads it starts
    (SIGCHLD too, so CMD's end wakes the wait); those still pending at the end are dropped,
    as a second signal while stopping changes nothing."""
    signals = _Signals()
    if not hasattr(signal, "sigtimedwait"):
        previous = {
            sig: signal.signal(sig, lambda n, _frame: signals.caught.append(n))
            for sig in FORWARDED
        }
        try:
            yield signals
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return
    held = {*FORWARDED, signal.SIGCHLD}
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield signals
    finally:
        while signal.sigtimedwait(held, 0) is not None:
            pass
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
