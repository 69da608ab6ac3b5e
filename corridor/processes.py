"""Child processes of the hub and its simulators: stopping them the same way everywhere."""

from __future__ import annotations

import gc
import signal
import subprocess


def stop(process: subprocess.Popen, timeout: float) -> int:
    """SIGTERM, then SIGKILL after `timeout`; the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


# Collector thresholds for the hub's long-running servers (see `relax_gc`).
GC_THRESHOLDS = (50_000, 20, 100)


def relax_gc() -> None:
    """Let the cyclic garbage collector run less often in this process.

    Called at the start of every server and simulator: their request paths allocate many
    short-lived objects and make almost no reference cycles. In TXN, a batch keeps
    thousands of small rows and commands alive until it commits, so with the default
    young-generation threshold (700 allocations) the collector runs dozens of times per
    batch, walks those rows each time and holds the GIL while it does: a sixth of the run
    time of `corridor bench txn`. Collecting rarely costs little memory here. Thresholds
    already set higher are kept."""
    current = gc.get_threshold()
    gc.set_threshold(*(max(a, b) for a, b in zip(current, GC_THRESHOLDS, strict=True)))
