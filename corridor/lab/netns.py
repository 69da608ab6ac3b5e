"""Working inside the lab's network namespaces from this process.

`ip netns exec` starts a new process for every probe, which costs a second or more per
probe under an emulated VM. A thread can join a namespace instead: setns(2) with
CLONE_NEWNET changes the namespace of the calling thread only, and every socket that
thread opens afterwards belongs to the namespace. Python 3.11 has no `os.setns` (3.12
adds it), hence the call through ctypes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from corridor import probe

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/run/netns")
# The C library, for the calls Python 3.11 has no function for (setns, prctl).
LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def exists(ns: str) -> bool:
    return (NETNS_DIR / ns).exists()


def listed() -> list[str]:
    """Every named network namespace on this machine."""
    return sorted(p.name for p in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []


def enter(ns: str) -> None:
    """Join namespace `ns` with the calling thread (the whole process, when it has one)."""
    fd = os.open(NETNS_DIR / ns, os.O_RDONLY)
    try:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {ns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def run_in(ns: str, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in a thread that has joined namespace `ns`; its result or its exception."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            enter(ns)
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def tcp_open(ns: str, host: str, port: int, timeout: float = 1.0,
             source: str | None = None) -> bool:
    """Whether a TCP handshake from inside `ns` to host:port completes."""
    return run_in(ns, probe.tcp_open, host, port, timeout, source)
