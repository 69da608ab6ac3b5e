"""EIG's batches over several TXN processes: they go to each in turn; a TXN that cannot be
reached is left aside and its calls go to the other; a TXN that took a batch and gave no
answer gets the keyed calls sent again to the other, never the unkeyed ones. Scripted
TXNs (plain HTTP) stand in for TXN's batch endpoint; the real processes are
tests/ha/test_processes.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import msgspec
from aiohttp import web

from corridor.api.internal import BATCH_PATH, MSGPACK, Answered, Relayed, decode_calls
from corridor.core.errors import Unavailable
from corridor.eig.coalescer import Coalescer
from corridor.httppool import Pool
from tests.support import free_port


class Scripted:
    """A TXN's batch endpoint: it records the calls it got and answers each 200 (or, with
    `drop`, reads the batch and closes the connection without an answer)."""

    def __init__(self, drop: bool = False) -> None:
        self.drop = drop
        self.got: list[Relayed] = []
        self.port = free_port()

    async def batch(self, request: web.Request) -> web.StreamResponse:
        calls = decode_calls(await request.read())
        self.got.extend(calls)
        if self.drop:
            assert request.transport is not None
            request.transport.close()
            raise web.HTTPInternalServerError  # never written: the socket is closed
        body = msgspec.msgpack.encode([Answered(200, "application/json", c.body)
                                       for c in calls])
        return web.Response(body=body, content_type=MSGPACK)


@asynccontextmanager
async def serving(*txns: Scripted) -> AsyncIterator[None]:
    runners = []
    for txn in txns:
        app = web.Application()
        app.router.add_post(BATCH_PATH, txn.batch)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", txn.port).start()
        runners.append(runner)
    try:
        yield
    finally:
        for runner in runners:
            await runner.cleanup()


def coalescer(*ports: int) -> Coalescer:
    pools = [Pool(f"http://127.0.0.1:{p}", None, 8, timeout=5) for p in ports]
    return Coalescer(pools, lambda: Unavailable("down", code="txn_unavailable"))


def call(n: int, key: str | None) -> Relayed:
    return Relayed("POST", "/internal/v1/transfers", "payfast", key, None, f"{n}".encode())


async def outcomes(b: Coalescer, calls: list[Relayed]) -> list[int | str]:
    got = await asyncio.gather(*(b.call(c) for c in calls), return_exceptions=True)
    return [g.status if isinstance(g, Answered) else type(g).__name__ for g in got]


def run(test: Callable[[], object]) -> None:
    asyncio.run(test())  # type: ignore[arg-type]  # each test is a coroutine function


def test_batches_go_to_each_txn_in_turn() -> None:
    a, b = Scripted(), Scripted()

    async def go() -> None:
        async with serving(a, b):
            txns = coalescer(a.port, b.port)
            for n in range(6):  # one at a time: six batches
                assert await outcomes(txns, [call(n, f"k{n}")]) == [200]
        assert len(a.got) == len(b.got) == 3

    run(go)


def test_a_txn_that_cannot_be_reached_hands_every_call_to_the_other() -> None:
    live = Scripted()
    dead = free_port()  # nothing listens there

    async def go() -> None:
        async with serving(live):
            txns = coalescer(dead, live.port)
            # Unkeyed calls too: the batch never left, so nothing can run twice.
            assert await outcomes(txns, [call(1, None), call(2, "k2")]) == [200, 200]
            assert txns.failovers == 2
            # The dead TXN rests: the next batches go straight to the live one.
            assert await outcomes(txns, [call(3, None)]) == [200]
            assert txns.failovers == 2
        assert [c.body for c in live.got] == [b"1", b"2", b"3"]

    run(go)


def test_a_txn_that_took_a_batch_unanswered_gets_only_keyed_calls_resent() -> None:
    mute, live = Scripted(drop=True), Scripted()

    async def go() -> None:
        async with serving(mute, live):
            txns = coalescer(mute.port, live.port)
            got = await outcomes(txns, [call(1, None), call(2, "k2")])
            # The unkeyed call may have been applied by the mute TXN: 503, not twice.
            assert got == ["Unavailable", 200]
        assert [c.body for c in mute.got] == [b"1", b"2"]
        assert [c.body for c in live.got] == [b"2"]

    run(go)
