"""Free TCP ports for servers that one host starts side by side (`corridor up`, the
benches, the tests).

Asking the kernel for port 0 returns a port from the ephemeral range, the same range that
outgoing connections (to PostgreSQL, to the partner simulators...) take their own source
ports from: between the choice and the server's bind, one of them can take the port, or
the next choice can be the same port again. So ports are drawn from below that range, at
random (processes side by side rarely meet), never twice in one process, and only once
a bind shows that nothing holds them.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_FLOOR = 20000  # above the well-known and most registered services' ports
_given: set[int] = set()


def _ephemeral_start() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that nothing listens on or holds, not handed out before here."""
    top = max(_FLOOR + 1000, _ephemeral_start())
    for _ in range(200):
        port = random.randrange(_FLOOR, top)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise OSError(f"no free port on {host} between {_FLOOR} and {top}")
