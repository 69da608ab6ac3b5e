"""Driving transfers through a world and judging the outcome the way a partner and an
auditor would: final states, the beneficiary's wallet, the sender callback, the ledger.
Also the world's timings for tests (`FAST`) and taking a partner's server down."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from corridor.core.states import FINAL
from corridor.sim.driver import SendDriver
from corridor.sim.process import SimProcess
from corridor.sim.world import World
from corridor.store import reads as q
from tests.support import pg_schema, wait_for

# The hub's timeouts and backoffs, shortened so that every fault resolves in seconds.
FAST = {
    "CORRIDOR_TXN_LEASE_S": "3",
    "CORRIDOR_CONNECTOR_TIMEOUT_S": "1",
    "CORRIDOR_CONNECTOR_RETRIES": "1",
    "CORRIDOR_CONNECTOR_BACKOFF_S": "0.05",
    "CORRIDOR_PAYOUT_POLL_S": "1",
    "CORRIDOR_PAYOUT_RETRY_S": "0.3",
    "CORRIDOR_PAYOUT_POLL_MAX_S": "1",
    "CORRIDOR_CALLBACK_BACKOFF_S": "0.2",
    "CORRIDOR_CALLBACK_BACKOFF_MAX_S": "0.5",
    "CORRIDOR_CALLBACK_RETRY_FOR_S": "3",
    "CORRIDOR_CALLBACK_TIMEOUT_S": "1",
    "CORRIDOR_BREAKER_FAILURES": "2",
    "CORRIDOR_BREAKER_PROBE_S": "1",
}


@contextmanager
def funded_world(root: Path, store: str, schema: str, env: dict[str, str] = FAST,
                 prepare: Callable[[Path], None] = lambda _: None) -> Iterator[World]:
    """A world on `store` ("sqlite", or "postgresql" in a schema of its own named after
    `schema`), its site changed by `prepare` before it starts, PayFast's float funded;
    stopped afterwards."""
    with (pg_schema(schema) if store == "postgresql"
          else nullcontext("sqlite:///txn.db")) as dsn:
        w = World.create(root, store=dsn, env=env)
        prepare(w.site_dir)
        try:
            w.start()
            w.fund("100000000.00")
            yield w
        finally:
            w.stop()


def send(world: World, count: int = 1, amount: str = "1000.00") -> list[str]:
    """Create `count` transfers through EIG as PayFast; their ids (all ACCEPTED)."""
    async def go() -> list[str]:
        async with SendDriver(world.site, "payfast", destination="KE", timeout=10) as driver:
            async def one() -> str:
                transfer = await driver.create(await driver.quote(amount))
                assert transfer.status == "ACCEPTED", transfer
                return transfer.id

            return list(await asyncio.gather(*(one() for _ in range(count))))

    return asyncio.run(go())


def statuses(world: World, ids: list[str]) -> dict[str, str]:
    def read(conn: Any) -> dict[str, str]:
        out = {}
        for tid in ids:
            row = q.transfer(conn, tid)
            out[tid] = row.status if row else "MISSING"
        return out

    return world.query(read)  # type: ignore[no-any-return]


def wait_status(world: World, ids: list[str], wanted: set[str] | None = None,
                timeout: float = 20.0) -> dict[str, str]:
    """Wait until every transfer is in a final state (or one of `wanted`)."""
    goal = wanted or {str(s) for s in FINAL}

    def done() -> dict[str, str] | None:
        now = statuses(world, ids)
        return now if all(s in goal for s in now.values()) else None

    return wait_for(done, timeout=timeout, interval=0.1, what=f"transfers in {sorted(goal)}")


def history(world: World, tid: str) -> list[str]:
    return [h["status"] for h in world.query(q.history, tid)]


def credits(world: World, tid: str) -> int:
    """How many times the beneficiary was credited for this transfer, by either Kenyan
    wallet: a payout may be routed to KenPay when MobiCash is out of rotation (a test's
    timeouts can take it out), and it must be paid once in all."""
    return sum(credits_at(world, sim, tid) for sim in (world.receiver, world.second)
               if sim is not None)


def credits_at(world: World, sim: SimProcess | None, tid: str) -> int:
    """How many times `sim` (a receive partner's simulator) credited this transfer."""
    row = world.query(q.transfer, tid)
    account = json.loads(row.beneficiary)["account"]
    status, body = world.control(sim, "GET", f"/sim/wallets/{account}")
    if status == 404:
        return 0
    assert status == 200, body
    return sum(1 for c in body["credits"] if c["payout_id"] == tid)


def sender_told(world: World, tid: str, status: str, timeout: float = 15.0) -> None:
    def told() -> bool:
        try:
            return any(c["status"] == status for c in world.sender_callbacks(tid))
        except OSError:  # PayFast's server is down for the test: ask again
            return False

    wait_for(told, timeout=timeout, interval=0.1, what=f"sender callback {status} for {tid}")


def settled(world: World, ids: list[str], status: str) -> None:
    """Every transfer ended `status`; paid exactly once if COMPLETED, never if not; the
    send partner heard of it; the ledger verifies."""
    assert wait_status(world, ids) == {tid: status for tid in ids}
    for tid in ids:
        assert credits(world, tid) == (1 if status == "COMPLETED" else 0), tid
        sender_told(world, tid, status)
    assert world.violations() == []


def take_down(world: World, sim: SimProcess | None, seconds: float) -> None:
    """Tell a partner's simulator to be down for `seconds`, and wait until it is (it answers
    first and closes its listener a moment later); no longer than `seconds`, after which it
    would be back up."""
    assert sim is not None
    status, body = world.control(sim, "POST", "/sim/down", {"seconds": seconds})
    assert status == 202, body
    wait_for(lambda: not sim.healthy(), timeout=seconds, what=f"{sim.url} to go down")
