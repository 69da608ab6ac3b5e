"""Processes of the lab: started inside a host's namespace, detached from the builder (they
outlive `corridor lab up`), each recorded in the state file with its log, and waited for
on a condition with a deadline."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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


def spawn(state: State, host: str, what: str, argv: list[str]) -> Proc:
    logs = state.dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{host}.{what.replace(' ', '-')}.log"
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
