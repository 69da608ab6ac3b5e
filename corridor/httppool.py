"""A lean HTTP/1.1 client for the hub's hot hops: EIG to TXN, TXN to receive partners and
to send partners' callback URLs, and the partner simulators' own calls.

aiohttp's client spent about a third of a relaying process's time per call building
request objects, URL and header structures, timers and tracing hooks that these hops never
need: one known server each, a handful of fixed headers, small bodies. A `Pool` keeps TLS
connections to one origin alive (uvloop's TLS), writes each request as one buffer and
parses only what comes back: a status line, headers and a body by Content-Length, chunked
transfer coding, or (HTTP/1.0 style) until the server closes.

A connection that the server closed while idle is found out when it is next used; the
call is then sent once more on a fresh connection. Callers only send calls for which that
is safe: reads, and POSTs under an idempotency key (or, like callbacks, delivered at least
once and recognised by their event id). Timeouts are the caller's (`asyncio.timeout`): a
cancelled exchange closes its connection, as its answer may still be on the way.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class ProtocolError(ConnectionError):
    """The server's answer is not HTTP/1.1 as this client reads it."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes


class _Connection(asyncio.Protocol):
    """One kept-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        # (status, headers, Content-Length or -1 for chunked or None for until-close)
        self.head: tuple[int, dict[str, str], int | None] | None = None
        self.closed = False
        self.reusable = True
        self.used = False  # has answered a request before (a stale keep-alive may fail)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.head is not None and self.head[2] is None:  # the body ran until the close
            status, headers, _ = self.head
            waiter.set_result(Response(status, headers, bytes(self.buf)))
        else:
            waiter.set_exception(ConnectionResetError("the server closed the connection"))

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

    def _parse_head(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise ProtocolError("response head too large")
            return False
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        del self.buf[:end + 4]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:60]!r}")
        status = int(parts[1])
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            return self._parse_head()
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("connection", "").lower() == "close":
            self.reusable = False
        length: int | None
        if "chunked" in headers.get("transfer-encoding", "").lower():
            length = -1
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise ProtocolError("the Content-Length is not a number") from None
        elif status in (204, 304):
            length = 0
        else:
            length, self.reusable = None, False
        self.head = (status, headers, length)
        return True

    def _parse(self) -> Response | None:
        if self.head is None and not self._parse_head():
            return None
        assert self.head is not None
        status, headers, length = self.head
        if length is None:
            if len(self.buf) > MAX_BODY:
                raise ProtocolError("response body too large")
            return None
        if length == -1:
            body = self._chunked()
            if body is None:
                return None
        else:
            if len(self.buf) < length:
                return None
            body = bytes(self.buf[:length])
            del self.buf[:length]
        self.head = None
        return Response(status, headers, body)

    def _chunked(self) -> bytes | None:
        """The whole chunked body once it has arrived (trailers are dropped), else None."""
        out = bytearray()
        pos = 0
        while True:
            eol = self.buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            try:
                size = int(bytes(self.buf[pos:eol]).split(b";")[0], 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            if size == 0:
                end = self.buf.find(b"\r\n\r\n", eol)
                if end < 0:
                    return None
                del self.buf[:end + 4]
                return bytes(out)
            if len(self.buf) < eol + 2 + size + 2:
                return None
            out += self.buf[eol + 2:eol + 2 + size]
            if len(out) > MAX_BODY:
                raise ProtocolError("response body too large")
            pos = eol + 2 + size + 2

    async def exchange(self, request: bytes) -> Response:
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
    """Up to `size` kept-alive connections to one HTTP(S) origin (`base_url`'s scheme,
    host and port; its path is ignored). `local_addr` is the address to connect from."""

    def __init__(self, base_url: str, context: ssl.SSLContext | None, size: int = 256, *,
                 local_addr: str | None = None) -> None:
        url = urlsplit(base_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.authority = url.netloc.encode()
        self.context = context if url.scheme == "https" else None
        self.local_addr = (local_addr, 0) if local_addr else None
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self.context,
            server_hostname=self.host if self.context else None, local_addr=self.local_addr)
        return conn

    async def request(self, method: str, target: str, headers: dict[str, str],
                      body: bytes | None = None) -> Response:
        """Send one request (`target` is the path and query). Raises OSError,
        ssl.SSLError or ProtocolError when no answer comes."""
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
