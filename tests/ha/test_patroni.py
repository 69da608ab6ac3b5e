"""PostgreSQL high availability under partner load through EIG: a Patroni pair (etcd,
synchronous replication) under two TXN processes, and the primary killed three ways,
three times each: its postmaster, the whole node (Patroni and PostgreSQL), only its
Patroni daemon. Each time one writable primary remains, TXN carries on by itself, and the
old primary rejoins as the synchronous standby (pg_rewind); then an SQL audit: every
acknowledged transfer is there, none was paid out twice, every journal balances.

The cluster and the hub start once for the module (about 30 s); the kills take about 3
minutes in all, most of it Patroni's 20 s leader lease after a node or daemon dies."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.deploy.hacluster import Cluster, missing
from corridor.deploy.harig import HaHub, Load, audit
from corridor.store import open_store
from tests.support import need, wait_for

ROUNDS = 3
FAILOVER_S_MAX = 25  # the bound on how long TXN may be unable to commit
CLIENTS = 4  # PayFast's concurrent senders: enough to have commits in flight at each kill


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    why = missing()
    need(why is None, why or "")
    # Its own directory under /tmp: the nodes run as postgres, which cannot enter
    # pytest's (0700, root's).
    root = Path(tempfile.mkdtemp(prefix="corridor-patroni-"))
    root.chmod(0o755)
    c = Cluster(root / "cluster")
    try:
        c.start(timeout=90)
        yield c
    finally:
        c.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(cluster: Cluster, request: pytest.FixtureRequest) -> Iterator[HaHub]:
    # Its servers' logs and the nodes' stay in /tmp when a test failed, for a look.
    root = Path(tempfile.mkdtemp(prefix="corridor-ha-hub-"))
    h = HaHub(root, cluster.dsn)
    h.start()
    try:
        yield h
    finally:
        h.stop()
        if request.session.testsfailed:
            shutil.copytree(cluster.root, root / "cluster", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("data", "etcd", "sock"))
        else:
            shutil.rmtree(root, ignore_errors=True)


def flowing(load: Load, hub: HaHub, more: int = 15, timeout: float = 60) -> None:
    before = len(load.tally.acked)
    wait_for(lambda: len(load.tally.acked) >= before + more, timeout=timeout,
             what=f"transfers to be acknowledged (logs in {hub.root})")


def run_rounds(cluster: Cluster, hub: HaHub, kind: str, tmp_path: Path) -> list[float]:
    assert hub.world is not None
    load = Load(hub.world.site_dir, hub.eig_urls, clients=CLIENTS).start()
    gaps = []
    try:
        flowing(load, hub)
        for _ in range(ROUNDS):
            started = time.monotonic()
            # Returns once one node is writable and the old primary is back as its
            # synchronous standby (pg_stat_replication.sync_state, not Patroni's word).
            cluster.fail_primary(kind)
            flowing(load, hub)  # TXN reconnected by itself
            gaps.append(load.tally.longest_gap(started, time.monotonic()))
    finally:
        tally = load.stop()
    assert max(gaps) <= FAILOVER_S_MAX, gaps
    conn = open_store(cluster.dsn, tmp_path)
    try:
        wait_for(lambda: not conn.query("SELECT 1 FROM transfers WHERE status IN "
                                        "('ACCEPTED', 'SUBMITTED', 'UNKNOWN') LIMIT 1"),
                 timeout=90, what="every payout to settle")
        paid = conn.query("SELECT COUNT(*) FROM payouts")[0][0]
        wait_for(lambda: sum(hub.receiver_credits().values()) >= paid, timeout=10,
                 what="MobiCash's book")
        result = audit(conn, list(tally.acked), hub.receiver_credits())
    finally:
        conn.close()
    assert result.lost == [], f"{len(result.lost)} acknowledged transfers lost"
    assert result.double_payouts == []
    assert result.unbalanced == []
    assert len(tally.acked) > 0
    return gaps


@pytest.mark.timeout(400)
def test_primary_postmaster_killed(cluster: Cluster, hub: HaHub, tmp_path: Path) -> None:
    run_rounds(cluster, hub, "postgres", tmp_path)


@pytest.mark.timeout(400)
def test_whole_primary_node_killed(cluster: Cluster, hub: HaHub, tmp_path: Path) -> None:
    run_rounds(cluster, hub, "node", tmp_path)


@pytest.mark.timeout(400)
def test_only_the_primary_patroni_daemon_killed(cluster: Cluster, hub: HaHub,
                                                tmp_path: Path) -> None:
    run_rounds(cluster, hub, "patroni", tmp_path)
