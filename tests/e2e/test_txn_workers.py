"""TXN with its outbox pumps in worker processes of their own (`serve txn --workers`), and
with payouts held (`--hold-payouts`), on SQLite and PostgreSQL: the journey completes as
with one process, a killed API process takes its workers with it and nothing is paid twice
after the restart, and held payouts wait in the outbox until TXN runs without the flag."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from corridor.sim.driver import SendDriver
from corridor.sim.world import World
from corridor.store import reads as q
from tests.e2e.journeys import credits, send, sender_told, settled, statuses
from tests.support import wait_for


def worker_pids(txn_pid: int) -> list[int]:
    text = Path(f"/proc/{txn_pid}/task/{txn_pid}/children").read_text()
    return [int(p) for p in text.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def restart_txn(world: World, **env: str) -> int:
    """Stop TXN and start it again with `env` added; the new API process's pid."""
    stack = world.stack
    assert stack is not None
    stack.services["txn"].stop()
    stack.env.update(env)
    service = stack.start_txn()
    service.wait_ready()
    return service.process.pid


def cancel(world: World, tid: str) -> None:
    async def go() -> None:
        async with SendDriver(world.site, "payfast", destination="KE", timeout=10) as driver:
            assert (await driver.cancel(tid)).status == "CANCELLED"

    asyncio.run(go())


def test_workers_pay_out_and_deliver_callbacks(world: World) -> None:
    pid = restart_txn(world, CORRIDOR_TXN_WORKERS="2", CORRIDOR_TXN_HOLD_PAYOUTS="")
    assert len(worker_pids(pid)) == 2
    ids = send(world, 30)
    settled(world, ids, "COMPLETED")
    assert world.query(q.double_payouts) == []


def test_killed_api_process_takes_its_workers_and_restart_pays_once(world: World) -> None:
    pid = restart_txn(world, CORRIDOR_TXN_WORKERS="2", CORRIDOR_TXN_HOLD_PAYOUTS="")
    workers = worker_pids(pid)
    world.faults(latency_ms=500)
    try:
        ids = send(world, 20)
        wait_for(lambda: "SUBMITTED" in statuses(world, ids).values(), timeout=10,
                 what="a payout in flight")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not any(alive(w) for w in workers), timeout=5,
                 what="the workers to die with the API process")
    finally:
        world.faults(latency_ms=0)
    restart_txn(world)
    settled(world, ids, "COMPLETED")
    assert world.query(q.double_payouts) == []


def test_held_payouts_wait_until_txn_runs_without_the_flag(world: World) -> None:
    restart_txn(world, CORRIDOR_TXN_WORKERS="0", CORRIDOR_TXN_HOLD_PAYOUTS="1")
    held, cancelled = send(world, 2)
    # Sender callbacks still go out: once PayFast hears of the cancellation, the pumps
    # have run many rounds, and the held transfer was never submitted.
    cancel(world, cancelled)
    sender_told(world, cancelled, "CANCELLED")
    assert statuses(world, [held]) == {held: "ACCEPTED"}
    assert credits(world, held) == 0
    restart_txn(world, CORRIDOR_TXN_HOLD_PAYOUTS="")
    settled(world, [held], "COMPLETED")
