"""The hub's HTTP client (`corridor.httppool`) against scripted servers: small asyncio
servers that read each request and write exact bytes back, so that every way an answer
can be framed - and every way a connection can fail - is the server's choice, not a
library's. Each test runs on asyncio's own loop and on uvloop (the hub's)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
import uvloop

from corridor.httppool import MAX_HEAD, Pool, TransportError, TransportTimeout


@dataclass(frozen=True)
class Reply:
    """What the server does with one request: write `data`, then close if `close`; with
    `hold`, write it and then never answer again on that connection."""

    data: bytes = b""
    close: bool = False
    hold: bool = False


DROP = Reply(close=True)  # read the request, then close without a byte of an answer


def ok(body: bytes = b"ok", extra: str = "") -> Reply:
    return Reply(b"HTTP/1.1 200 OK\r\n" + extra.encode()
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)


@dataclass
class Scripted:
    """Answers the n-th request it reads, on whatever connection, with `replies[n]`;
    records (connection number, request head and body) for each request."""

    replies: list[Reply]
    requests: list[tuple[int, bytes]] = field(default_factory=list)
    connections: int = 0
    ended: list[int] = field(default_factory=list)  # connections the client closed
    server: asyncio.Server | None = None
    client_closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                reply = self.replies[len(self.requests)]
                self.requests.append((number, request))
                writer.write(reply.data)
                await writer.drain()
                if reply.close:
                    break
                if reply.hold:
                    await reader.read()  # until the client gives up and closes
                    raise asyncio.IncompleteReadError(b"", None)
        except asyncio.IncompleteReadError:
            self.ended.append(number)
            self.client_closed.set()
        finally:
            writer.close()

    def lines(self) -> list[tuple[int, str]]:
        """(connection, request line) for each request read, in order."""
        return [(n, r.split(b"\r\n", 1)[0].decode()) for n, r in self.requests]


LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[object]], object]:
    return LOOPS[request.param]  # type: ignore[return-value]


Run = Callable[[Awaitable[object]], object]


def test_kept_alive_connection_carries_answers_framed_by_content_length(run: Run) -> None:
    async def go() -> None:
        async with Scripted([ok(b"one"), ok(b"two", "Content-Type: text/plain\r\n")]) as srv:
            pool = Pool(srv.url, None)
            first = await pool.request("GET", "/a?x=1", {"Accept": "*/*"})
            second = await pool.request("POST", "/b", {}, b"hello")
            pool.close()
        assert (first.status, first.body) == (200, b"one")
        assert (second.body, second.headers["content-type"]) == (b"two", "text/plain")
        assert srv.lines() == [(0, "GET /a?x=1 HTTP/1.1"), (0, "POST /b HTTP/1.1")]
        assert srv.requests[1][1].endswith(b"\r\n\r\nhello")

    run(go())


def test_chunked_body_with_extensions_and_trailers(run: Run) -> None:
    chunked = Reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"4;name=value\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Checksum: 7\r\n\r\n")

    async def go() -> None:
        async with Scripted([chunked, ok(b"next")]) as srv:
            pool = Pool(srv.url, None)
            got = await pool.request("GET", "/", {})
            after = await pool.request("GET", "/", {})
            pool.close()
        assert got.body == b"abcdefg"
        assert "x-checksum" not in got.headers  # a trailer is not a header of the answer
        assert after.body == b"next"
        assert srv.connections == 1  # the chunked answer ended where it said

    run(go())


def test_interim_answers_come_before_the_real_one(run: Run) -> None:
    answer = Reply(b"HTTP/1.1 100 Continue\r\n\r\n"
                   b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
                   b"HTTP/1.1 201 Created\r\nLocation: /t/1\r\nContent-Length: 2\r\n\r\n{}")

    async def go() -> None:
        async with Scripted([answer, ok()]) as srv:
            pool = Pool(srv.url, None)
            got = await pool.request("POST", "/t", {"Idempotency-Key": "k"}, b"{}")
            assert (await pool.request("GET", "/", {})).body == b"ok"
            pool.close()
        assert (got.status, got.body, got.headers) == (
            201, b"{}", {"location": "/t/1", "content-length": "2"})
        assert srv.connections == 1

    run(go())


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",  # keep-alive, but no length: the close ends the body
    b"HTTP/1.0 200 OK\r\n\r\n",
], ids=["connection-close", "keep-alive-no-length", "http-1.0"])
def test_body_until_the_server_closes(run: Run, head: bytes) -> None:
    async def go() -> None:
        async with Scripted([Reply(head + b"all of it", close=True), ok()]) as srv:
            pool = Pool(srv.url, None)
            got = await pool.request("GET", "/", {})
            again = await pool.request("POST", "/", {}, b"x")  # not replayable: not stale
            pool.close()
        assert (got.status, got.body) == (200, b"all of it")
        assert again.body == b"ok"
        assert srv.lines() == [(0, "GET / HTTP/1.1"), (1, "POST / HTTP/1.1")]

    run(go())


def test_head_204_and_304_answers_have_no_body(run: Run) -> None:
    replies = [Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
               Reply(b"HTTP/1.1 204 No Content\r\n\r\n"),
               Reply(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
               ok()]

    async def go() -> None:
        async with Scripted(replies) as srv:
            pool = Pool(srv.url, None, timeout=10)
            head = await pool.request("HEAD", "/", {})
            empty = await pool.request("DELETE", "/x", {})
            same = await pool.request("GET", "/", {"If-None-Match": '"1"'})
            last = await pool.request("GET", "/", {})
            pool.close()
        assert (head.status, head.headers["content-length"], head.body) == (200, "5", b"")
        assert (empty.status, empty.body) == (204, b"")
        assert (same.status, same.body) == (304, b"")
        assert last.body == b"ok"
        # 204 and 304 keep the connection (the one after HEAD is a fresh one).
        assert [n for n, _ in srv.lines()][1:] == [1, 1, 1]

    run(go())


@pytest.mark.parametrize("method,headers,replayable", [
    ("GET", {}, None),
    ("POST", {"Idempotency-Key": "k1"}, None),
    ("POST", {}, True),  # a callback: delivered at least once, known by its event id
])
def test_a_stale_kept_alive_connection_is_retried_when_safe(
        run: Run, method: str, headers: dict[str, str], replayable: bool | None) -> None:
    # The server read the second request on the kept-alive connection and closed it
    # without a byte of an answer: what a connection it closed while idle looks like.
    async def go() -> None:
        async with Scripted([ok(b"first"), DROP, ok(b"again")]) as srv:
            pool = Pool(srv.url, None)
            await pool.request("GET", "/", {})
            got = await pool.request(method, "/p", headers, b"{}", replayable=replayable)
            pool.close()
        assert got.body == b"again"
        assert srv.lines() == [(0, "GET / HTTP/1.1"), (0, f"{method} /p HTTP/1.1"),
                               (1, f"{method} /p HTTP/1.1")]

    run(go())


def test_a_post_that_may_have_reached_the_server_is_never_resent(run: Run) -> None:
    async def go() -> None:
        async with Scripted([ok(), DROP, ok()]) as srv:
            pool = Pool(srv.url, None)
            await pool.request("GET", "/", {})
            with pytest.raises(TransportError, match="closed the connection"):
                await pool.request("POST", "/v1/transfers", {}, b"{}")
            pool.close()
        assert srv.lines() == [(0, "GET / HTTP/1.1"), (0, "POST /v1/transfers HTTP/1.1")]

    run(go())


@pytest.mark.parametrize("broken", [
    b"HTTP/1.1 200 OK\r\nContent-Len",
    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nonly",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n",
], ids=["in-head", "in-body", "in-chunks"])
def test_an_answer_cut_short_is_an_error_and_not_resent(run: Run, broken: bytes) -> None:
    async def go() -> None:
        async with Scripted([ok(), Reply(broken, close=True), ok()]) as srv:
            pool = Pool(srv.url, None)
            await pool.request("GET", "/", {})
            with pytest.raises(TransportError, match="before the end of its answer"):
                await pool.request("GET", "/", {})
            assert (await pool.request("GET", "/", {})).body == b"ok"
            pool.close()
        assert [n for n, _ in srv.lines()] == [0, 0, 1]

    run(go())


def test_a_new_connection_that_closes_unanswered_is_not_retried(run: Run) -> None:
    async def go() -> None:
        async with Scripted([DROP, ok()]) as srv:
            pool = Pool(srv.url, None)
            with pytest.raises(TransportError):
                await pool.request("GET", "/", {})
            pool.close()
        assert len(srv.requests) == 1

    run(go())


def test_an_answer_nobody_asked_for_takes_the_connection_out_of_use(run: Run) -> None:
    # Some servers send 408 before they close a connection left idle; it arrives here
    # right behind the answer, and must not be taken for the next request's answer.
    timeout = Reply(ok(b"first").data + b"HTTP/1.1 408 Request Timeout\r\n"
                    b"Connection: close\r\nContent-Length: 0\r\n\r\n")

    async def go() -> None:
        async with Scripted([timeout, ok(b"second")]) as srv:
            pool = Pool(srv.url, None)
            first = await pool.request("GET", "/", {})
            second = await pool.request("POST", "/", {}, b"{}")
            pool.close()
        assert (first.body, second.status, second.body) == (b"first", 200, b"second")
        assert [n for n, _ in srv.lines()] == [0, 1]

    run(go())


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEAD + 10),  # never ends
    b"HTTP/1.1 200 OK\r\n" + b"X-Many: b\r\n" * (MAX_HEAD // 10) + b"\r\n",
], ids=["one-endless-header", "many-headers"])
def test_an_oversize_head_is_refused(run: Run, head: bytes) -> None:
    async def go() -> None:
        async with Scripted([Reply(head, hold=True), ok()]) as srv:
            pool = Pool(srv.url, None)
            with pytest.raises(TransportError, match="head is over"):
                await pool.request("GET", "/", {})
            assert (await pool.request("GET", "/", {})).body == b"ok"
            pool.close()
        assert srv.ended[:1] == [0]  # the client closed the connection it refused
        assert [n for n, _ in srv.lines()] == [0, 1]

    run(go())


def test_an_oversize_body_is_refused(run: Run) -> None:
    async def go() -> None:
        async with Scripted([ok(b"x" * 11), ok(b"y" * 10)]) as srv:
            pool = Pool(srv.url, None, max_body=10)
            with pytest.raises(TransportError, match="body is over 10 bytes"):
                await pool.request("GET", "/", {})
            assert (await pool.request("GET", "/", {})).body == b"y" * 10
            pool.close()

    run(go())


@pytest.mark.parametrize("answer", [
    b"SSH-2.0-OpenSSH_9.2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
], ids=["not-http", "bad-length", "upgrade"])
def test_an_answer_that_is_not_http_is_one_transport_error(run: Run, answer: bytes) -> None:
    async def go() -> None:
        async with Scripted([Reply(answer, hold=True)]) as srv:
            pool = Pool(srv.url, None)
            with pytest.raises(TransportError, match=r"not HTTP/1\.1"):
                await pool.request("GET", "/", {})
            pool.close()

    run(go())


def test_no_answer_in_time_is_a_transport_timeout(run: Run) -> None:
    async def go() -> None:
        async with Scripted([Reply(b"HTTP/1.1 200 OK\r\n", hold=True)]) as srv:
            pool = Pool(srv.url, None, timeout=0.3)
            with pytest.raises(TransportTimeout, match=r"within 0\.3 s"):
                await pool.request("POST", "/v1/payouts", {"Idempotency-Key": "k"}, b"{}")
            pool.close()
            # The connection is closed, as the late answer could only confuse the next.
            await asyncio.wait_for(srv.client_closed.wait(), 10)
        assert issubclass(TransportTimeout, TransportError)

    run(go())


def test_connect_and_tls_failures_are_one_transport_error(run: Run) -> None:
    async def go() -> None:
        def clear_text(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        server = await asyncio.start_server(clear_text, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tls = Pool(f"https://127.0.0.1:{port}", ssl.create_default_context())
        with pytest.raises(TransportError, match="SSL"):  # TLS to a clear-text server
            await tls.request("GET", "/", {})
        server.close()
        await server.wait_closed()
        gone = Pool(f"http://127.0.0.1:{port}", None)
        with pytest.raises(TransportError, match="ConnectionRefusedError"):
            await gone.request("GET", "/", {})

    run(go())
