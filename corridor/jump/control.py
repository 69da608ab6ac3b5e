"""The control socket: how `corridor jump kick` and friends reach the running server.

A Unix socket under the data directory (0600, so only the operator's account can use it),
one JSON request per connection and one JSON reply:
    {"op": "kick", "admin": "asha"}  ->  {"closed": 1}
    {"op": "sessions"}               ->  {"sessions": [...]}
    {"op": "metrics"}                ->  {"metrics": "<Prometheus text>"}
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from pathlib import Path
from typing import Any


class NotRunning(Exception):
    """No jump server answers on the control socket."""


async def serve_control(bastion: Any) -> asyncio.AbstractServer:
    path = bastion.state.control

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(await reader.readline() or b"{}")
            reply = _answer(bastion, request if isinstance(request, dict) else {})
        except ValueError:
            reply = {"error": "request must be one JSON object"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    path.unlink(missing_ok=True)
    old = os.umask(0o177)
    try:
        return await asyncio.start_unix_server(handle, path=str(path))
    finally:
        os.umask(old)


def _answer(bastion: Any, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "kick" and isinstance(request.get("admin"), str):
        return {"closed": bastion.kick(request["admin"])}
    if op == "sessions":
        return {"sessions": bastion.open_sessions()}
    if op == "metrics":
        return {"metrics": bastion.metrics.exposition().decode()}
    return {"error": f"unknown request {op!r}"}


def call(path: Path, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the running server and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            why = f"the jump server is not running (no control socket at {path})"
            raise NotRunning(why) from None
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    answer: dict[str, Any] = json.loads(data)
    return answer
