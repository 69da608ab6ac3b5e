"""`corridor bench txn`: durable transfers per second through the engine as the server
runs it (decode, KYC, screening, then the group-commit writer), with many concurrent
creators. Prints one JSON object."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec

from corridor.clikit import bench_site_option, open_site, settings
from corridor.core.money import Money
from corridor.txn.commands.floats import Fund

NAMES = ["Asha Rao", "Vikram Nair", "Priya Menon", "Rahul Gupta", "Meera Iyer", "Arjun Das",
         "Kavita Shah", "Sanjay Patel", "Nisha Kapoor", "Deepak Joshi"]
PAYEES = ["John Kamau", "Grace Wanjiku", "Peter Otieno", "Mary Achieng", "David Mwangi"]


def transfer_body(quote_id: str, i: int) -> bytes:
    return json.dumps({
        "quote_id": quote_id, "reference": f"bench-{i}",
        "sender": {"name": NAMES[i % len(NAMES)], "account": f"AC{i}", "address": "Mumbai",
                   "id_type": "passport", "id_number": f"P{i:08d}"},
        "beneficiary": {"name": PAYEES[i % len(PAYEES)], "account": f"2547{i:08d}",
                        "phone": "+254700000001"},
        "purpose": "family_support", "source_of_funds": "salary",
    }).encode()


QUOTE = json.dumps({"send_currency": "INR", "receive_currency": "KES",
                    "destination_country": "KE", "payout_method": "wallet",
                    "send_amount": "1000.00"}).encode()


async def _run(site_dir: Path, dsn: str, data_dir: Path, n: int, concurrency: int,
               profile: bool) -> dict[str, object]:
    from corridor.txn.engine import Engine
    from corridor.txn.verify import violations

    site = open_site(site_dir)
    engine = Engine(site, dsn, data_dir)
    engine.start()
    try:
        payfast = site.partner("payfast")
        assert payfast is not None
        await engine.writer.submit(Fund(payfast, Money(10**15, "INR"), "bench-deposit",
                                        datetime.now(UTC)))
        quotes = await asyncio.gather(*(engine.quote("payfast", f"q{i}", QUOTE)
                                        for i in range(n)))
        bodies = [transfer_body(json.loads(r.body)["id"], i) for i, r in enumerate(quotes)]
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        next_i = iter(range(n))

        async def creator() -> None:
            for i in next_i:
                t0 = time.perf_counter()
                r = await engine.create_transfer("payfast", f"t{i}", bodies[i])
                latencies.append(time.perf_counter() - t0)
                status = _status(r.body) if r.status == 201 else str(r.status)
                statuses[status] = statuses.get(status, 0) + 1

        # Where the time goes: how long the writer thread spent in its transactions.
        busy = [0.0]
        server_hook = engine.writer.on_group

        def on_group(size: int, seconds: float) -> None:
            busy[0] += seconds
            if server_hook is not None:
                server_hook(size, seconds)

        engine.writer.on_group = on_group
        groups0 = engine.writer.groups
        prof = None
        if profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        started = time.perf_counter()
        loop_cpu, writer_cpu = time.thread_time(), engine.writer.cpu_seconds()
        await asyncio.gather(*(creator() for _ in range(concurrency)))
        loop_cpu = time.thread_time() - loop_cpu
        writer_cpu = engine.writer.cpu_seconds() - writer_cpu
        elapsed = time.perf_counter() - started
        if prof is not None:
            prof.disable()
            prof.dump_stats(str(data_dir / "bench.prof"))
        groups = engine.writer.groups - groups0
        conn = engine.connect()
        try:
            durable = _durable(conn)
            balanced = not violations(site, conn)
        finally:
            conn.close()
    finally:
        engine.stop()
    latencies.sort()
    return {
        "store": "sqlite" if dsn.startswith("sqlite") else "postgresql",
        "transfers": n,
        "transfers_per_s": round(n / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, 2),
        "durable": durable,
        "ledger_balanced": balanced,
        "statuses": statuses,
        "concurrency": concurrency,
        "commits": groups,
        "transfers_per_commit": round(n / max(groups, 1), 1),
        # The writer's share of the run, and its wall time per transfer (SQL, commit and
        # the waits for the GIL while the event loop runs).
        "writer_busy": round(busy[0] / elapsed, 2),
        "writer_us_per_transfer": round(busy[0] / n * 1e6, 1),
        # CPU per transfer of the writer thread and of the event loop (which also runs
        # this bench's creators): their sum against the wall time above is what the GIL
        # lets overlap.
        "writer_cpu_us_per_transfer": round(writer_cpu / n * 1e6, 1),
        "loop_cpu_us_per_transfer": round(loop_cpu / n * 1e6, 1),
    }


class _Status(msgspec.Struct):
    status: str


_status_of = msgspec.json.Decoder(_Status).decode


def _status(body: str) -> str:
    """The status of a reply, read without building the whole body: the bench's own work
    shares the event loop with the engine's."""
    return _status_of(body).status


def _durable(conn: object) -> bool:
    """Is a commit on disk before it is acknowledged, as configured right now?"""
    from corridor.store.adapter import PostgresConnection, SqliteConnection

    if isinstance(conn, SqliteConnection):
        mode: str = conn.query("PRAGMA journal_mode")[0][0]
        if mode != "wal":
            return False
        synchronous: int = conn.query("PRAGMA synchronous")[0][0]
        return synchronous >= 2
    if isinstance(conn, PostgresConnection):
        commit: str = conn.query("SHOW synchronous_commit")[0][0]
        if commit == "off":
            return False
        fsync: str = conn.query("SHOW fsync")[0][0]
        return fsync == "on"
    return False


@click.command()
@bench_site_option
@click.option("--store", "store", type=click.Choice(["sqlite", "postgresql"]), default="sqlite",
              show_default=True)
@click.option("--transfers", "n", default=20_000, show_default=True)
@click.option("--concurrency", default=1000, show_default=True,
              help="Concurrent creators (asyncio tasks), like the server's open requests.")
@click.option("--pg", "pg_dsn", default=lambda: settings().test_pg,
              show_default="$CORRIDOR_TEST_PG, else the local test database",
              help="PostgreSQL server for --store postgresql (a scratch schema is used).")
@click.option("--profile", is_flag=True, help="Write a cProfile of the run (bench.prof).")
def bench(site_dir: Path, store: str, n: int, concurrency: int, pg_dsn: str,
          profile: bool) -> None:
    """Create, screen and reserve N transfers through the engine; print one JSON object."""
    import uvloop

    work = Path(tempfile.mkdtemp(prefix="corridor-bench-"))
    schema = f"bench_{os.getpid()}_{int(time.time())}"
    if store == "sqlite":
        dsn = "sqlite:///txn.db"
    else:
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        sep = "&" if "?" in pg_dsn else "?"
        dsn = f"{pg_dsn}{sep}options=-csearch_path%3D{schema}"
    try:
        result = uvloop.run(_run(site_dir, dsn, work, n, concurrency, profile))
        if profile:
            result["profile"] = str(work / "bench.prof")
    finally:
        if store == "postgresql":
            import psycopg

            with psycopg.connect(pg_dsn, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")
        if not profile:
            shutil.rmtree(work, ignore_errors=True)
    click.echo(json.dumps(result))
