"""The ProxyJump data path: a direct-tcpip channel relayed to a TCP connection.

Two small protocol objects hand bytes straight to each other's transport; the only
Python per chunk is one write and one addition (the byte counts the audit log reports).
Back-pressure runs both ways: a full SSH send window pauses the TCP socket and a full
TCP write buffer pauses the channel, so memory stays bounded at any speed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncssh

# Large windows and packets keep the per-packet overhead low on bulk transfers (scp).
WINDOW = 8 * 1024 * 1024
MAX_PKTSIZE = 256 * 1024


class _Target(asyncio.Protocol):
    """The TCP connection to the managed host."""

    def __init__(self, relay: ForwardRelay) -> None:
        self.relay = relay
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio hands a stream protocol a Transport
        transport.set_write_buffer_limits(high=WINDOW)  # type: ignore[attr-defined]  # asyncio hands a stream protocol a Transport
        # The host may speak first (an sshd banner); hold it until the channel is open.
        transport.pause_reading()  # type: ignore[attr-defined]  # asyncio hands a stream protocol a Transport

    def data_received(self, data: bytes) -> None:
        self.relay.down += len(data)
        self.relay.chan.write(data)

    def eof_received(self) -> bool:
        self.relay.chan.write_eof()
        return True

    def pause_writing(self) -> None:
        self.relay.chan.pause_reading()

    def resume_writing(self) -> None:
        self.relay.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.relay.chan.close()


class ForwardRelay(asyncssh.SSHTCPSession[bytes]):
    """The SSH side of one forwarded connection; reports itself when it ends."""

    def __init__(self, on_close: Callable[[ForwardRelay], None]) -> None:
        self.on_close = on_close
        self.up = 0  # client -> host
        self.down = 0  # host -> client
        self.started = time.monotonic()
        self.chan: Any = None
        self.target = _Target(self)
        self._closed = False

    async def open(self, address: str, port: int) -> ForwardRelay:
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self.target, address, port)
        except OSError as exc:
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_CONNECT_FAILED, f"cannot reach {address}:{port}: {exc.strerror}"
            ) from None
        return self

    def connection_made(self, chan: Any) -> None:
        self.chan = chan
        self.target.transport.resume_reading()  # type: ignore[union-attr]  # the target connected before the channel opened

    def data_received(self, data: bytes, datatype: Any) -> None:
        self.up += len(data)
        self.target.transport.write(data)  # type: ignore[union-attr]  # the target connected before the channel opened

    def eof_received(self) -> bool:
        if self.target.transport and self.target.transport.can_write_eof():
            self.target.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        if self.target.transport:
            self.target.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.target.transport:
            self.target.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.target.transport:
            self.target.transport.close()
        if not self._closed:
            self._closed = True
            self.on_close(self)
