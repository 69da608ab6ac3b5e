"""`corridor bench e2e`: the whole journey under load, every hop over mutual TLS.

It builds a world (corridor.sim.world: TXN, EIG, MobiCash's receive simulator and
PayFast's callback server, each its own process) on a fresh copy of the demo site, funds
PayFast's float, then drives transfers from this process with the SendDriver: quote, then
transfer; TXN pays out to MobiCash, MobiCash's receiver callback comes back through EIG,
TXN completes and PayFast receives the sender callback. A transfer's latency runs from its
creation request to the sender callback's arrival (PayFast's journal records the time).

Two runs: a closed loop (`--concurrency` transfers in flight) for throughput, and an open
loop at a fixed offered rate (`--rate`, 500/s by default) for the latency figures. It
prints one JSON object, with the CPU seconds each process spent (where the time goes).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from corridor.clikit import settings

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    created: dict[str, float] = field(default_factory=dict)  # transfer id -> unix time
    refused: int = 0  # creation failed or not ACCEPTED
    started: float = 0.0
    offered_s: float = 0.0  # how long it took to offer every transfer


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> list[int]:
    """The child processes of `pid` (TXN's outbox worker processes)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def txn_writer(world: Any) -> dict[str, float]:
    """Group-commit figures from TXN's /metrics: commits, commands per commit, and the
    share of wall time the writer spent inside a transaction."""
    import http.client

    from corridor.pki.layout import Layout
    from corridor.pki.tls import hub_client

    site = world.site
    listen = site.hub.listen["txn"]
    conn = http.client.HTTPSConnection(listen.host, listen.port, timeout=10,
                                       context=hub_client(Layout(site.root), "eig"))
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    values: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in ("corridor_txn_group_commit_size_count", "corridor_txn_group_commit_size_sum",
                    "corridor_txn_group_commit_seconds_sum"):
            values[name] = float(value)
    return values


def callbacks_seen(journal: Path) -> dict[str, float]:
    """First final sender callback per transfer, from PayFast's journal."""
    out: dict[str, float] = {}
    if not journal.exists():
        return out
    # The inbox may be writing a line as it is read: only whole lines (up to the last
    # newline) count; the rest is read next time.
    for line in journal.read_bytes().split(b"\n")[:-1]:
        got = json.loads(line)
        if got["status"] in ("COMPLETED", "FAILED", "REJECTED", "CANCELLED"):
            out.setdefault(got["transfer_id"], got["received_at"])
    return out


async def drive(driver: Any, count: int, concurrency: int, rate: float | None) -> Run:
    """Create `count` transfers: `concurrency` at a time, or at `rate` per second."""
    from corridor.sim.driver import TransferFailed

    run = Run(started=time.time())

    async def one() -> None:
        try:
            quote = await driver.quote("1000.00")
            t0 = time.time()
            transfer = await driver.create(quote)
        except TransferFailed:  # counted as refused; the bench goes on
            run.refused += 1
            return
        if transfer.status == "ACCEPTED":
            run.created[transfer.id] = t0
        else:
            run.refused += 1

    if rate is None:
        todo = iter(range(count))

        async def worker() -> None:
            for _ in todo:
                await one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    else:
        tasks = []
        begin = time.monotonic()
        for i in range(count):
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    run.offered_s = time.time() - run.started
    return run


def settle(run: Run, journal: Path, timeout: float) -> dict[str, Any]:
    """Wait for every created transfer's sender callback; the run's figures."""
    deadline = time.monotonic() + timeout
    seen = callbacks_seen(journal)
    while any(t not in seen for t in run.created) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = callbacks_seen(journal)
    lat = sorted((seen[t] - t0) * 1000 for t, t0 in run.created.items() if t in seen)
    last = max((seen[t] for t in run.created if t in seen), default=run.started)

    def pct(p: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else None

    elapsed = max(last - run.started, 1e-9)
    return {
        "completed": len(lat),
        "completed_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "failed": run.refused,
        "lost": sum(1 for t in run.created if t not in seen),
    }


def bench_world(root: Path, count: int, concurrency: int, rate: float,
                rate_count: int, store: str | None, pool: int = 128,
                txn_workers: int = 0, env: dict[str, str] | None = None) -> dict[str, Any]:
    import uvloop

    from corridor.processes import relax_gc
    from corridor.sim.driver import SendDriver
    from corridor.sim.world import World
    from corridor.store import reads as q

    relax_gc()  # the load generator too, like every server it measures
    world = World.create(root, store=store, receiver_state=False,
                         env={"CORRIDOR_TXN_WORKERS": str(txn_workers), **(env or {})})
    with world:
        world.fund("1000000000.00")
        journal = world.data_dir / "payfast.jsonl"
        assert world.stack is not None
        procs = {name: s.process.pid for name, s in world.stack.services.items()}
        for name, sim in (("mobicash", world.receiver), ("payfast", world.inbox)):
            assert sim is not None
            procs[name] = sim.process.pid
        for i, pid in enumerate(children(procs["txn"])):
            procs[f"txn_worker{i + 1}"] = pid
        procs["driver"] = os.getpid()
        cpu0 = {name: cpu_seconds(pid) for name, pid in procs.items()}

        async def go(n: int, conc: int, r: float | None) -> Run:
            async with SendDriver(world.site, "payfast", destination="KE", timeout=60,
                                  seed=1) as driver:
                # One kept-alive pool sized for the load: a connection per transfer in
                # flight, at most `pool` (each new one costs EIG a full mTLS handshake).
                driver._open(min(conc, pool))
                return await drive(driver, n, conc, r)

        wall0 = time.time()
        w0 = txn_writer(world)
        closed = settle(uvloop.run(go(count, concurrency, None)), journal, 60)
        closed_wall = time.time() - wall0
        cpu1 = {name: cpu_seconds(pid) for name, pid in procs.items()}
        w1 = {k: v - w0.get(k, 0.0) for k, v in txn_writer(world).items()}
        fixed = settle(uvloop.run(go(rate_count, rate_count, rate)), journal, 60)
        doubles = world.query(q.double_payouts)
        balanced = world.violations() == []
        writer = world.query(lambda c: c.query(
            "SELECT COUNT(*) FROM transfers WHERE status = 'COMPLETED'"))[0][0]
    return {
        **closed,
        "double_payouts": len(doubles),
        "ledger_balanced": balanced,
        "transfers": count,
        "concurrency": concurrency,
        f"at_{int(rate)}_per_s": {"offered": rate_count, **fixed},
        "completed_in_store": int(writer),
        "store": world.dsn().split("?")[0],
        "txn_worker_processes": txn_workers,
        "cpu_s": {name: round(cpu1[name] - cpu0[name], 2) for name in procs},
        "txn_commits": int(w1.get("corridor_txn_group_commit_size_count", 0)),
        "txn_commands_per_commit": round(w1.get("corridor_txn_group_commit_size_sum", 0) / max(
            w1.get("corridor_txn_group_commit_size_count", 0), 1), 1),
        "txn_writer_busy": round(
            w1.get("corridor_txn_group_commit_seconds_sum", 0) / closed_wall, 2),
        "wall_s": round(closed_wall, 2),
        "cores": os.cpu_count(),
        # CPU per completed transfer of the closed loop, in ms, per process: what a
        # change of the servers' per-call work (tracing, say) moves.
        "cpu_ms_per_transfer": {name: round((cpu1[name] - cpu0[name]) * 1000 / max(
            closed["completed"], 1), 3) for name in procs},
    }


# `--tracing`: the servers' tracing knobs of each mode.
TRACING = {
    "off": {"CORRIDOR_TRACING": "0"},
    "default": {"CORRIDOR_TRACING": "1", "CORRIDOR_TRACE_SAMPLE": "0.01"},
    "all": {"CORRIDOR_TRACING": "1", "CORRIDOR_TRACE_SAMPLE": "1"},
}


def compare(modes: list[str], run: Any) -> dict[str, Any]:
    """Run the bench once per mode, in the order given (repeat one to see the noise), and
    put the figures side by side, each mode's repeats under its name."""
    out: dict[str, list[dict[str, Any]]] = {}
    for mode in modes:
        out.setdefault(mode, []).append(run(TRACING[mode]))
    keys = ("completed_per_s", "p50_ms", "p99_ms", "cpu_ms_per_transfer", "wall_s")

    def figures(r: dict[str, Any]) -> dict[str, Any]:
        at_rate = next(v for k, v in r.items() if k.startswith("at_"))
        return {**{k: r[k] for k in keys}, "at_rate_p50_ms": at_rate["p50_ms"],
                "at_rate_p99_ms": at_rate["p99_ms"]}

    first = next(iter(out.values()))[0]
    return {"tracing": {mode: [figures(r) for r in runs] for mode, runs in out.items()},
            **{k: first[k] for k in ("transfers", "concurrency", "store", "cores")}}


@click.command()
@click.option("--count", type=click.IntRange(1), default=6000, show_default=True,
              help="Transfers in the closed-loop (throughput) run.")
@click.option("--concurrency", type=click.IntRange(1, 2048), default=512, show_default=True,
              help="Transfers in flight in the closed-loop run.")
@click.option("--rate", type=click.FloatRange(1), default=500.0, show_default=True,
              help="Offered transfers per second in the latency run.")
@click.option("--rate-count", type=click.IntRange(1), default=2500, show_default=True,
              help="Transfers in the latency run.")
@click.option("--store", default=lambda: settings().txn_store, metavar="DSN",
              help="TXN store (default: $CORRIDOR_TXN_STORE, else SQLite in a temporary "
                   "directory).")
@click.option("--txn-workers", type=click.IntRange(0, 8), default=0, show_default=True,
              help="TXN outbox worker processes beside its API process (serve txn --workers).")
@click.option("--tracing", "modes", default=None, metavar="MODE,...",
              help="Compare the servers' tracing, one world per mode in this order: off "
                   "(CORRIDOR_TRACING=0), default (on, 1% of the traces the hub starts), "
                   "all (every trace recorded); e.g. off,default,all,off,default,all.")
def bench(count: int, concurrency: int, rate: float, rate_count: int,
          store: str | None, txn_workers: int, modes: str | None) -> None:
    """Transfers from quote to sender callback through EIG, TXN and both simulators."""
    import logging

    logging.disable(logging.WARNING)
    wanted = [m.strip() for m in modes.split(",")] if modes else []
    unknown = [m for m in wanted if m not in TRACING]
    if unknown or (modes is not None and not wanted):
        raise click.BadParameter(f"modes are {', '.join(TRACING)}", param_hint="--tracing")

    def run(env: dict[str, str] | None = None) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="corridor-e2e-") as tmp:
            return bench_world(Path(tmp), count, concurrency, rate, rate_count, store,
                               txn_workers=txn_workers, env=env)

    click.echo(json.dumps(compare(wanted, run) if wanted else run()))
