"""A lean HTTP/1.1 client for the one hot hop of the gateway: EIG to TXN.

aiohttp's client spent about a third of EIG's time per relayed call building request
objects, URL and header structures, timers and tracing hooks that this hop never needs:
one known server, fixed headers, bodies with a Content-Length both ways. This pool keeps
TLS connections to TXN alive (uvloop's TLS), writes each request as one buffer and parses
only what TXN sends back: a status line, headers and a Content-Length body.

A connection that the server closed while idle is found out when it is next used; the
call is then sent once more on a fresh connection. That is safe for every call EIG
relays: GETs are reads, and every POST carries the partner's Idempotency-Key, which TXN
answers from its record if it has already applied it.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.1 as this client reads it."""


class _Connection(asyncio.Protocol):
    """One kept-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[tuple[int, dict[str, str], bytes]] | None = None
        self.head: tuple[int, dict[str, str], int] | None = None
        self.closed = False
        self.reusable = True
        self.used = False  # has answered a request before (a stale keep-alive may fail)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError("TXN closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.waiter is None or self.waiter.done():
            return
        try:
            answer = self._parse()
        except ProtocolError as exc:
            self.reusable = False
            self.waiter.set_exception(exc)
            return
        if answer is not None:
            self.waiter.set_result(answer)

    def _parse(self) -> tuple[int, dict[str, str], bytes] | None:
        if self.head is None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEAD:
                    raise ProtocolError("response head too large")
                return None
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            del self.buf[:end + 4]
            parts = lines[0].split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:60]!r}")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "transfer-encoding" in headers:
                raise ProtocolError("chunked answers are not expected from TXN")
            if headers.get("connection", "").lower() == "close":
                self.reusable = False
            self.head = (int(parts[1]), headers, int(headers.get("content-length", "0")))
        status, headers, length = self.head
        if len(self.buf) < length:
            return None
        body = bytes(self.buf[:length])
        del self.buf[:length]
        self.head = None
        return status, headers, body

    async def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None
            self.used = True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Up to `size` kept-alive connections to one HTTPS server."""

    def __init__(self, base_url: str, context: ssl.SSLContext, size: int = 256) -> None:
        url = urlsplit(base_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 443
        self.authority = url.netloc.encode()
        self.context = context
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self.context, server_hostname=self.host)
        return conn

    async def request(self, method: str, target: str, headers: dict[str, str],
                      body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body). Raises OSError, ssl.SSLError, ProtocolError
        or TimeoutError when no answer comes."""
        payload = body or b""
        head = [f"{method} {target} HTTP/1.1\r\nHost: ".encode(), self.authority,
                f"\r\nContent-Length: {len(payload)}\r\n".encode()]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"\r\n")
        head.append(payload)
        raw = b"".join(head)
        async with self._slots:
            for attempt in (0, 1):
                conn = None
                while self._idle:
                    candidate = self._idle.pop()
                    if not candidate.closed:
                        conn = candidate
                        break
                if conn is None:
                    conn = await self._connect()
                reused = conn.used
                try:
                    answer = await conn.exchange(raw)
                except ConnectionResetError:
                    conn.close()
                    if attempt == 0 and reused:
                        continue  # a stale keep-alive: once more on a new connection
                    raise
                except BaseException:
                    conn.close()
                    raise
                if conn.reusable and not conn.closed:
                    self._idle.append(conn)
                else:
                    conn.close()
                return answer
        raise AssertionError("unreachable")

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
