"""Processes of the lab: started inside a host's namespace, detached from the builder (they
outlive `corridor lab up`), each recorded in the state file with its log, and waited for
on a condition with a deadline."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from corridor.lab import netns
from corridor.lab.errors import LabError
from corridor.lab.state import Proc, State, alive

# The servers and simulators are Python: slow to start under an emulated VM, so their
# deadlines are generous; a probe that succeeds ends the wait at once.
READY_S = 180.0
# The longest one call to a tool (ip, nft, whack...) may take, for the same reason.
TOOL_S = 300.0


def corridor(*args: str) -> list[str]:
    """`corridor ARGS` under this interpreter, with its flags: in the lab VM that includes
    -S (no site module; the path comes from PYTHONPATH, see corridor.lab.remote)."""
    return [sys.executable, *(["-S"] if sys.flags.no_site else []), "-m", "corridor", *args]


PR_SET_NAME = 15  # prctl(2)

# What the lab's servers and simulators import, imported once by the builder before it
# forks them (`fork_corridor`). A module missing here costs its child the import, no more.
PRELOAD = ("corridor.serve", "corridor.eig.cli", "corridor.eig.server",
           "corridor.txn.cli.serve", "corridor.txn.server", "corridor.rpt.cli",
           "corridor.rpt.feed", "corridor.jump.cli", "corridor.jump.server", "corridor.sim.cli",
           "corridor.sim.receive", "corridor.sim.inbox")


def preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)


def _log(state: State, host: str, what: str) -> Path:
    logs = state.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{host}.{what.replace(' ', '-')}.log"


def fork_corridor(state: State, host: str, what: str, args: list[str]) -> Proc:
    """`corridor ARGS` in `host`'s namespace, in a child forked from this process.

    Under an emulated VM a new Python process spends seconds importing what this one has
    imported already (`preload`); a dozen of them starting at once took most of a lab's
    build. A fork shares those modules. It is safe only from a process with one thread
    (a fork copies no other thread, and a lock one held stays held): with more, the
    command starts as a new process instead.
    The child is what `spawn` would start: its own session, joined to the host's network
    namespace, stdout and stderr to its log, nothing else of this process's I/O open."""
    if threading.active_count() > 1:
        return spawn(state, host, what, corridor(*args))
    log = _log(state, host, what)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child; its behaviour is the server's, tested there)
        _run_child(state.ns(host), log, state.dir, args)
    proc = Proc(host, what, pid, str(log))
    state.started_process(proc)
    return proc


def _run_child(ns: str, log: Path, cwd: Path, args: list[str]) -> None:
    """The forked child: becomes the server, and never returns."""
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGHUP):  # as a new process has them
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        # Pipes and sockets this process inherited (the builder's channel to its caller)
        # would keep that channel open as long as the server runs.
        for fd in map(int, os.listdir("/proc/self/fd")):
            with contextlib.suppress(OSError):
                mode = os.fstat(fd).st_mode
                if fd > 2 and (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
                    os.close(fd)
        os.chdir(cwd)
        netns.enter(ns)
        # Its command line stays the builder's; ps and top show this name instead.
        netns.LIBC.prctl(PR_SET_NAME, f"lab {' '.join(args[:2])}".encode()[:15], 0, 0, 0)
        os.environ["PYTHONUNBUFFERED"] = "1"
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        logging.getLogger().handlers.clear()  # the server configures its own
        from corridor.cli import cli

        cli.main(args=args, prog_name="corridor", standalone_mode=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(OSError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def spawn(state: State, host: str, what: str, argv: list[str]) -> Proc:
    log = _log(state, host, what)
    with log.open("ab") as out:
        child = subprocess.Popen(
            ["ip", "netns", "exec", state.ns(host), *argv], stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            cwd=state.dir, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    proc = Proc(host, what, child.pid, str(log))
    state.started_process(proc)
    return proc


def wait_ready(proc: Proc, ready: Callable[[], bool], timeout: float = READY_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not alive(proc.pid):
            raise LabError(f"{proc.what} on {proc.host} exited; {proc.log} ends: "
                           f"{tail(Path(proc.log))}")
        if time.monotonic() > deadline:
            raise LabError(f"{proc.what} on {proc.host} not ready after {timeout:.0f}s; "
                           f"{proc.log} ends: {tail(Path(proc.log))}")
        time.sleep(0.1)


def tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1].strip() if lines else "(empty log)"
