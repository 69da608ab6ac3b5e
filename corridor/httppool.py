"""The hub's HTTP/1.1 client: EIG to TXN and RPT, TXN to receive partners and to send
partners' callback URLs, RPT to TXN's event feed, and the partner simulators' own calls.

Why not aiohttp's client: it spent about a third of a relaying process's time per call
building request objects, URL and header structures, timers and tracing hooks that these
hops never need: one known server each, a handful of fixed headers, small bodies. A `Pool`
keeps TLS connections to one origin alive (the running loop's TLS, uvloop's in the hub),
writes each request as one buffer and hands what comes back to httptools, the binding of
Node's llhttp that uvicorn parses with: status line, headers, Content-Length, chunked
transfer coding (extensions and trailers), interim 1xx answers and bodiless 204/304 are
llhttp's. Measured on a typical TXN answer (five headers, 300 bytes): httptools takes no
more CPU per answer than the hand-written parser it replaced, and `corridor bench eig`
and `corridor bench e2e` kept their figures; h11, pure Python, took about eight times as
long per answer. What llhttp leaves to its caller is written below: the answer whose body
runs until the server closes (httptools has no call for the end of the stream), a HEAD's
answer (it cannot be told the request was HEAD), and a bound on the head's size.

Every failure to get an answer - connecting, TLS, a broken or refused connection, an
answer that is not HTTP/1.1, one too large, or the pool's time running out - is raised as
one `TransportError` (`TransportTimeout` when the time ran out, as a call that timed out
may still have been applied). A cancelled or failed exchange closes its connection, as
its answer may still be on the way.

A connection that the server closed while idle is found out when it is next used: when it
closes before any byte of an answer, the request is sent once more on a fresh connection,
if that is safe - an idempotent method, a request under an Idempotency-Key, or one the
caller declares `replayable` (callbacks are delivered at least once and recognised by
their event id). Otherwise the failure is the caller's to handle: the request may have
reached the server.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})  # RFC 9110 9.2.2


class TransportError(Exception):
    """No answer came from the server: the one error this client raises."""


class TransportTimeout(TransportError):
    """No answer within the pool's time: a call that timed out may have been applied."""


class ConnectFailed(TransportError):
    """No connection could be opened (refused, unreachable, TLS handshake failed, or the
    time ran out while connecting): the request was never sent, so it cannot have been
    applied: safe to send to another server. Routing moves a payout to another partner
    only on this error; EIG fails over to another TXN on it."""


class _Dropped(TransportError):
    """The server closed the connection before the answer was complete."""

    def __init__(self, message: str, *, answered: bool) -> None:
        super().__init__(message)
        self.answered = answered  # some of an answer had arrived: the request reached it


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased; trailers are dropped
    body: bytes


class _Connection(asyncio.Protocol):
    """One kept-alive connection; one request at a time. Also the parser's callbacks."""

    def __init__(self, max_body: int | None) -> None:
        self.max_body = max_body
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[Response] | None = None
        self.head_only = False  # the request was HEAD: its answer ends with its head
        self.status = 0
        self.headers: dict[str, str] = {}
        self.chunks: list[bytes] = []
        self.size = 0
        self.seen = 0  # bytes of the current answer received so far
        self.head_size = 0  # bytes of the current head's headers parsed so far
        self.head_done = False
        self.closed = False
        self.reusable = True
        self.used = False  # has answered a request before (a stale keep-alive may fail)

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # asyncio hands a stream protocol a Transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.head_done and self._until_close():
            waiter.set_result(self._answer())
        else:
            why = f" ({type(exc).__name__}: {exc})" if exc is not None else ""
            waiter.set_exception(_Dropped(
                f"the server closed the connection before the end of its answer{why}",
                answered=self.seen > 0))

    def data_received(self, data: bytes) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            # Nothing was asked (a server may send 408 before it closes an idle
            # connection): what follows on this connection cannot be trusted.
            self.close()
            return
        self.seen += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__  # what a callback below raised
            if not isinstance(cause, TransportError):
                raise
            self._fail(cause)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(TransportError(f"the server's answer is not HTTP/1.1: {exc!r}"))
        else:
            # A head still unfinished (one endless line, or 1xx after 1xx) is cut short
            # here; headers are also counted as they are parsed, as a whole head can
            # come in one read. (The status line is not kept, so not counted.)
            if not self.head_done and self.seen > MAX_HEAD and not waiter.done():
                self._fail(TransportError(f"the answer's head is over {MAX_HEAD} bytes"))

    # -- httptools callbacks

    def on_message_begin(self) -> None:
        if self.waiter is None or self.waiter.done():
            self.reusable = False  # more than the answer came: the stream is out of step
        self.headers = {}
        self.chunks = []
        self.size = 0
        self.head_size = 0
        self.head_done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.head_done:
            return  # after the head: a chunked body's trailer
        self.head_size += len(name) + len(value) + 4
        if self.head_size > MAX_HEAD:
            raise TransportError(f"the answer's head is over {MAX_HEAD} bytes")
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:
            return  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        self.head_done = True
        if self.head_only and self.waiter is not None and not self.waiter.done():
            # llhttp would wait for the body the head announces; this connection is not
            # reused, so nothing it reads afterwards is taken for the next answer.
            self.reusable = False
            self.waiter.set_result(self._answer())

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.max_body is not None and self.size > self.max_body:
            raise TransportError(f"the answer's body is over {self.max_body} bytes")
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:
            return
        if not self.parser.should_keep_alive():
            self.reusable = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(self._answer())

    # --

    def _until_close(self) -> bool:
        """The answer's body runs until the server closes (no length, not chunked)."""
        return ("content-length" not in self.headers
                and "chunked" not in self.headers.get("transfer-encoding", "").lower())

    def _answer(self) -> Response:
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return Response(self.status, self.headers, body)

    def _fail(self, exc: TransportError) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def exchange(self, request: bytes, head_only: bool) -> Response:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.head_only = head_only
        self.seen = 0
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None
            self.used = True

    def close(self) -> None:
        self.closed = True
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class Pool:
    """Up to `size` kept-alive connections to one HTTP(S) origin (`base_url`'s scheme,
    host and port; its path is ignored). `timeout` bounds each request from its wait for
    a connection to the end of its answer (None: no bound, for a load generator that
    should not pay for a timer per call: asyncio.timeout costs about a quarter of the
    pool's CPU per request); `max_body` the size of an answer's body (None:
    no bound); `local_addr` is the address to connect from."""

    def __init__(self, base_url: str, context: ssl.SSLContext | None, size: int = 256, *,
                 timeout: float | None = 30.0, max_body: int | None = MAX_BODY,
                 local_addr: str | None = None) -> None:
        url = urlsplit(base_url)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.authority = url.netloc.encode()
        self.context = context if url.scheme == "https" else None
        self.timeout = timeout
        self.max_body = max_body
        self.local_addr = (local_addr, 0) if local_addr else None
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(size)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: _Connection(self.max_body), self.host, self.port, ssl=self.context,
            server_hostname=self.host if self.context else None, local_addr=self.local_addr)
        return conn

    async def request(self, method: str, target: str, headers: dict[str, str],
                      body: bytes | None = None, *, replayable: bool | None = None) -> Response:
        """Send one request (`target` is the path and query) and read its answer, or raise
        TransportError. `replayable` says whether the request may be sent twice (by default:
        an idempotent method, or an Idempotency-Key among the headers)."""
        payload = body or b""
        head = [f"{method} {target} HTTP/1.1\r\nHost: ".encode(), self.authority,
                f"\r\nContent-Length: {len(payload)}\r\n".encode()]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"\r\n")
        head.append(payload)
        if replayable is None:
            replayable = method in IDEMPOTENT or "Idempotency-Key" in headers
        raw = b"".join(head)
        sent = [False]  # set once the request is on its way
        try:
            if self.timeout is None:
                return await self._send(raw, method == "HEAD", replayable, sent)
            async with asyncio.timeout(self.timeout):
                return await self._send(raw, method == "HEAD", replayable, sent)
        except TransportError:
            raise
        except TimeoutError as exc:  # the pool's own, or the system's on connect
            if not sent[0]:
                raise ConnectFailed(f"{self.authority.decode()}: no connection within "
                                    f"{self.timeout} s") from exc
            raise TransportTimeout(
                f"no answer from {self.authority.decode()} within {self.timeout} s") from exc
        except OSError as exc:  # connecting, TLS, a reset (ssl.SSLError is an OSError)
            raise TransportError(
                f"{self.authority.decode()}: {type(exc).__name__}: {exc}") from exc

    async def _send(self, raw: bytes, head_only: bool, replayable: bool,
                    sent: list[bool]) -> Response:
        async with self._slots:
            for attempt in (0, 1):
                conn = None
                while self._idle:
                    candidate = self._idle.pop()
                    if not candidate.closed:
                        conn = candidate
                        break
                if conn is None:
                    try:
                        conn = await self._connect()
                    except OSError as exc:  # refused, unreachable, TLS (an OSError too)
                        if not sent[0]:
                            raise ConnectFailed(f"{self.authority.decode()}: "
                                                f"{type(exc).__name__}: {exc}") from exc
                        raise
                reused = conn.used
                sent[0] = True
                try:
                    answer = await conn.exchange(raw, head_only)
                except _Dropped as exc:
                    conn.close()
                    if attempt == 0 and reused and not exc.answered and replayable:
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
