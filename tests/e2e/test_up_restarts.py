"""`corridor up` restarts a server that crashed, with backoff, and loses nothing a partner
was told was accepted; a server that keeps crashing makes it give up with one line."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.sim.driver import SendDriver, TransferFailed
from corridor.sim.world import World
from corridor.stack import Stack
from corridor.supervise import RestartPolicy
from tests.e2e.journeys import FAST, settled
from tests.support import REPO, wait_for

# -- the policy, without processes ----------------------------------------------------------


def test_backoff_doubles_from_half_a_second_and_gives_up_after_five_crashes_a_minute() -> None:
    policy = RestartPolicy()
    crashes: list[float] = []
    delays = []
    for at in (100.0, 101.0, 103.0, 106.0, 111.0):
        crashes.append(at)
        delays.append(policy.delay(crashes))
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert policy.delay([*crashes, 120.0]) is None  # the sixth within 60 s


def test_crashes_older_than_the_window_are_forgotten() -> None:
    policy = RestartPolicy()
    assert policy.delay([0.0, 10.0, 20.0, 30.0, 40.0, 69.0]) == 8.0  # 0.0 left the window
    assert policy.delay([0.0, 10.0, 20.0, 30.0, 40.0, 59.0]) is None
    assert policy.delay([0.0, 1.0, 2.0, 500.0]) == 0.5  # a long healthy run: start afresh


# -- `corridor up` as an operator runs it ----------------------------------------------------


class Up:
    """`corridor up` as a child process, its terminal output kept in files."""

    def __init__(self, world: World) -> None:
        self.out = world.root / "up.out"
        self.err = world.root / "up.err"
        env = {**os.environ, **FAST, "PYTHONUNBUFFERED": "1"}
        env.pop("CORRIDOR_TXN_STORE", None)
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "corridor", "up", "--site", str(world.site_dir),
                 "--data", str(world.data_dir)], cwd=REPO, stdout=out, stderr=err, env=env)
        self.probe = Stack(world.site_dir, world.data_dir)
        wait_for(lambda: "all servers up" in self.stdout() or self.process.poll() is not None,
                 timeout=60, what="corridor up")
        assert self.process.poll() is None, self.stdout() + self.stderr()

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def pid(self, name: str) -> int:
        """The pid `up` last reported for a server (at start, or after a restart)."""
        pids = re.findall(rf"^{name}: up (?:again )?\(pid (\d+)", self.stdout(), re.MULTILINE)
        return int(pids[-1])

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def partners(tmp_path: Path) -> Iterator[World]:
    """The demo site on free ports with MobiCash's and PayFast's simulators running; the
    hub's servers are left to `corridor up`."""
    world = World.create(tmp_path, env=FAST)
    try:
        world.start_partners()
        yield world
    finally:
        world.stop()


@pytest.fixture
def up(partners: World) -> Iterator[Up]:
    running = Up(partners)
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()


class Traffic:
    """PayFast sending transfers through EIG from a thread, four at a time, until stopped:
    the ids EIG acknowledged (2xx with an id), and how many calls were refused."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.acked: list[str] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    async def _run(self) -> None:
        async with SendDriver(self.world.site, "payfast", destination="KE",
                              timeout=10) as driver:
            async def worker() -> None:
                while not self._stop.is_set():
                    try:
                        transfer = await driver.create(await driver.quote("1000.00"))
                        self.acked.append(transfer.id)
                    except TransferFailed:
                        self.refused += 1
                    await asyncio.sleep(0.05)  # pacing: a steady trickle, not a flood

            await asyncio.gather(*(worker() for _ in range(4)))


def test_up_restarts_a_killed_txn_and_loses_no_acknowledged_transfer(
        partners: World, up: Up) -> None:
    partners.fund("100000000.00")
    with Traffic(partners) as traffic:
        wait_for(lambda: len(traffic.acked) >= 10, timeout=30, what="transfers accepted")
        os.kill(up.pid("txn"), signal.SIGKILL)
        line = wait_for(lambda: re.search(r"^txn: .*restarting.*$", up.stdout(), re.MULTILINE),
                        timeout=10, what="up to report the crash")
        assert line.group(0) == ("txn: exited with -9 (SIGKILL); restarting in 0.5s "
                                 "(crash 1 of 5 within 60s)")
        wait_for(lambda: "txn: up again (pid" in up.stdout(), timeout=30, what="txn back")
        assert up.probe._txn_healthy()
        before = len(traffic.acked)
        wait_for(lambda: len(traffic.acked) >= before + 10, timeout=30,
                 what="EIG accepting transfers again")
    assert traffic.refused > 0  # the kill did land while transfers were being sent
    log = (partners.data_dir / "txn.log").read_text()
    assert "txn: exited with -9 (SIGKILL); restarting in 0.5s" in log
    assert f"txn: up again (pid {up.pid('txn')})" in log

    settled(partners, traffic.acked, "COMPLETED")  # each acknowledged one, paid out once
    rows = partners.query(lambda conn: conn.query(
        "SELECT id, reference FROM transfers WHERE partner_id = 'payfast'"))
    stored = [row[0] for row in rows]
    assert set(traffic.acked) <= set(stored)
    assert len({row[1] for row in rows}) == len(rows)  # no partner reference booked twice
    verify = subprocess.run(
        [sys.executable, "-m", "corridor", "ledger", "verify", "--site",
         str(partners.site_dir), "--data", str(partners.data_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert up.process.poll() is None and up.probe._eig_healthy()
    assert up.stop() == 0


def damage_the_store_and_kill_txn(world: World, up: Up) -> None:
    """TXN's store is damaged under the running TXN, then TXN dies: each restart dies
    opening the store."""
    store = world.data_dir / "txn.db"
    damaged = store.with_suffix(".damaged")
    damaged.write_bytes(b"not a database " * 512)
    damaged.replace(store)
    for extra in ("txn.db-wal", "txn.db-shm"):
        (world.data_dir / extra).unlink(missing_ok=True)
    os.kill(up.pid("txn"), signal.SIGKILL)


def test_up_gives_up_on_a_server_that_keeps_crashing(partners: World, up: Up) -> None:
    damage_the_store_and_kill_txn(partners, up)
    wait_for(lambda: up.process.poll() is not None, timeout=60, what="up to give up")
    assert up.process.returncode == 1
    assert up.stdout().count("txn: exited with") == 5  # crash 1 of 5 ... 5 of 5
    assert "restarting in 8s (crash 5 of 5 within 60s)" in up.stdout()
    log = partners.data_dir / "txn.log"
    assert up.stderr().splitlines() == [
        f"error: txn: exited with 1 (crash 6 within 60s); giving up; see {log}"]
    assert "giving up" in log.read_text()
    assert not up.probe._txn_healthy() and not up.probe._eig_healthy()


def test_sigterm_during_a_backoff_stops_everything_at_once(partners: World, up: Up) -> None:
    damage_the_store_and_kill_txn(partners, up)
    wait_for(lambda: "restarting in 4s" in up.stdout(), timeout=30, what="a 4 s backoff")
    up.process.send_signal(signal.SIGTERM)
    assert up.process.wait(3) == 0  # well before the backoff ends
    assert not up.probe._eig_healthy()
    assert "up again" not in up.stdout()
