"""Child processes of the hub and its simulators: stopping them the same way everywhere."""

from __future__ import annotations

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
