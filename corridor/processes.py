"""Child processes of the hub and its simulators: stopping them the same way everywhere,
and the worker processes a server forks (EIG's listeners, TXN's outbox pumps)."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
from collections.abc import Callable, Iterable


def stop(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, then SIGKILL after `timeout`; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


class Workers:
    """Worker processes forked from this one. Each runs its function and exits; the kernel
    kills it when this process dies, however it dies (a SIGKILL leaves no chance to stop
    the workers, and a worker left behind would hold its port or its claims on)."""

    def __init__(self) -> None:
        self.pids: list[int] = []

    def fork(self, run: Callable[[], object], *, close: Iterable[int] = ()) -> int:
        """Start a worker that closes the file descriptors `close` (ends of pipes meant for
        this process or for other workers), then calls `run()`; its pid."""
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            for fd in close:
                os.close(fd)
            _die_with_parent(parent)
            try:
                run()
            finally:
                os._exit(0)
        self.pids.append(pid)
        return pid

    def signal(self, signum: int) -> None:
        """Send `signum` to every worker that is still there."""
        for pid in self.pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def wait(self) -> None:
        """Wait until every worker has exited."""
        for pid in self.pids:
            os.waitpid(pid, 0)

    def stop(self) -> None:
        """SIGTERM to every worker, then wait for them."""
        self.signal(signal.SIGTERM)
        self.wait()


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker process when `parent` dies."""
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


# Collector thresholds for the hub's long-running servers (see `relax_gc`).
GC_THRESHOLDS = (50_000, 20, 100)


def relax_gc() -> None:
    """Let the cyclic garbage collector run less often in this process.

    Called at the start of every server and simulator: their request paths allocate many
    short-lived objects and make almost no reference cycles. In TXN, a group commit keeps
    thousands of small rows and commands alive until it commits, so with the default
    young-generation threshold (700 allocations) the collector runs dozens of times per
    group commit, walks those rows each time and holds the GIL while it does: a sixth of the run
    time of `corridor bench txn`. Collecting rarely costs little memory here. Thresholds
    already set higher are kept."""
    current = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(current, GC_THRESHOLDS, strict=True)))
