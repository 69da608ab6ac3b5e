"""Readiness probes: whether a server answers yet, for whatever starts one (`corridor.stack`,
the lab's servers, the simulators' processes). One-off synchronous calls, hence the
standard library's `http.client` rather than the pool."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def http_ok(host: str, port: int, path: str, ctx: ssl.SSLContext | None = None,
            timeout: float = 1.0) -> bool:
    """Whether GET `path` answers 200 (over TLS with `ctx` when one is given)."""
    if ctx is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection(host, port,
                                                                      timeout=timeout)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def tcp_open(host: str, port: int, timeout: float = 1.0, source: str | None = None) -> bool:
    """Whether a TCP handshake to host:port completes."""
    try:
        with socket.create_connection((host, port), timeout=timeout,
                                      source_address=(source, 0) if source else None):
            return True
    except OSError:
        return False


def poll(check: Callable[[], T], timeout: float, interval: float = 0.05) -> T | None:
    """`check()` again every `interval` until it returns something truthy (returned), or
    None once `timeout` has passed; the caller says what did not come."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)
