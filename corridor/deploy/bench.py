"""`corridor bench ha`: the partner journey (quote, transfer, payout through MobiCash)
through EIG on two TXN processes over a Patroni pair, steady and then through each kind of
primary failure; and the same journey on the embedded default (one TXN on SQLite) in the
same run. Prints one JSON object.

Where the time goes is in the object too: `promote_s` is how long Patroni took to make the
standby writable (a postmaster kill: Patroni sees it at once; a node or daemon kill: the
leader key's 20 s lease must run out first), `failover_s` how long the partner could not
get a transfer acknowledged (promotion, then TXN's writer reconnecting and resolving the
group it was committing), `rejoin_s` how long the old primary took to come back as the
synchronous standby (crash recovery, pg_rewind, catching up).
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from corridor.clikit import fail

KINDS = ("postgres", "node", "patroni")


def _steady(hub: Any, load: Any, conn: Any, seconds: float) -> tuple[float, float]:
    """Completed payouts per second over `seconds`, and the p99 of acknowledgement
    latency (ms) in that window."""
    def paid() -> int:
        return int(conn.query("SELECT COUNT(*) FROM payouts")[0][0])

    time.sleep(2)  # warm: every connection open, the pumps running
    before, start, n0 = paid(), time.monotonic(), len(load.tally.latencies)
    time.sleep(seconds)
    after, elapsed = paid(), time.monotonic() - start
    window = load.tally.latencies[n0:]
    p99 = statistics.quantiles(window, n=100)[98] * 1000 if len(window) > 1 else 0.0
    return (after - before) / elapsed, p99


def _settled(conn: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while conn.query("SELECT 1 FROM transfers WHERE status IN "
                     "('ACCEPTED', 'SUBMITTED', 'UNKNOWN') LIMIT 1"):
        if time.monotonic() > deadline:
            return
        time.sleep(0.2)


def _ha(root: Path, seconds: float, clients: int, rounds: int) -> dict[str, Any]:
    from corridor.deploy.hacluster import Cluster
    from corridor.deploy.harig import HaHub, Load, audit
    from corridor.store import open_store

    cluster = Cluster(root / "cluster")
    started = time.monotonic()
    cluster.start(timeout=120)
    up_s = time.monotonic() - started
    hub = HaHub(root / "hub", cluster.dsn)
    try:
        hub.start()
        assert hub.world is not None
        load = Load(hub.world.site_dir, hub.eig_urls, clients=clients).start()
        conn = open_store(cluster.dsn, root)
        try:
            rate, p99 = _steady(hub, load, conn, seconds)
        finally:
            conn.close()
        per_kind: dict[str, dict[str, float]] = {}
        for kind in KINDS:
            worst: dict[str, float] = {}
            for _ in range(rounds):
                t0 = time.monotonic()
                times = cluster.fail_primary(kind)
                goal = len(load.tally.acked) + 10
                while len(load.tally.acked) < goal and time.monotonic() - t0 < 120:
                    time.sleep(0.05)
                times["failover_s"] = load.tally.longest_gap(t0, time.monotonic())
                for key, value in times.items():
                    worst[key] = round(max(worst.get(key, 0.0), value), 2)
            per_kind[kind] = worst
        tally = load.stop()
        conn = open_store(cluster.dsn, root)
        try:
            _settled(conn)
            result = audit(conn, list(tally.acked), hub.receiver_credits())
        finally:
            conn.close()
    finally:
        hub.stop()
        cluster.stop()
    return {"completed_per_s": round(rate, 1), "p99_ms": round(p99, 1),
            "failovers": rounds * len(KINDS),
            "failover_s_max": max(k["failover_s"] for k in per_kind.values()),
            "lost": len(result.lost), "double_payouts": len(result.double_payouts),
            "ledger_balanced": not result.unbalanced, "acknowledged": len(tally.acked),
            "by_kill": per_kind, "cluster_up_s": round(up_s, 1)}


def _sqlite(root: Path, seconds: float, clients: int) -> float:
    from corridor.deploy.harig import HaHub, Load
    from corridor.store import open_store

    hub = HaHub(root / "sqlite", "sqlite:///txn.db", txn_hosts=(("txn", "127.0.0.2"),))
    try:
        hub.start()
        assert hub.world is not None
        load = Load(hub.world.site_dir, hub.eig_urls, clients=clients).start()
        conn = open_store("sqlite:///txn.db", hub.world.data_dir)
        try:
            rate, _ = _steady(hub, load, conn, seconds)
        finally:
            load.stop()
            conn.close()
    finally:
        hub.stop()
    return rate


@click.command()
@click.option("--seconds", default=20.0, show_default=True,
              help="Length of each steady window (HA, then SQLite).")
@click.option("--clients", default=8, show_default=True,
              help="PayFast's concurrent senders, each waiting for its answer.")
@click.option("--rounds", default=1, show_default=True,
              help="Failures of each kind (postmaster, whole node, Patroni daemon).")
def bench(seconds: float, clients: int, rounds: int) -> None:
    """Throughput and failover of the HA layout against the embedded default."""
    from corridor.deploy.hacluster import missing

    why = missing()
    if why is not None:
        fail(f"cannot run the Patroni pair here: {why}")
    root = Path(tempfile.mkdtemp(prefix="corridor-bench-ha-"))
    root.chmod(0o755)  # the nodes run as postgres
    try:
        ha = _ha(root, seconds, clients, rounds)
        sqlite_rate = _sqlite(root, seconds, clients)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out = {"store": "postgresql-ha", "txn_processes": 2, **ha,
           "sqlite_completed_per_s": round(sqlite_rate, 1),
           "ratio": round(ha["completed_per_s"] / sqlite_rate, 2) if sqlite_rate else None}
    click.echo(json.dumps(out))
