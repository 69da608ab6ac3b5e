"""Crash safety: SIGKILL the TXN process again and again while transfers are created and
paid out, restart it, and prove that every acknowledged transfer is there, none was paid
out twice, and the ledger verifies."""

from __future__ import annotations

import random
import signal
import threading
from pathlib import Path

from corridor.site import load_site
from corridor.store import open_store
from corridor.store import reads as q
from corridor.txn.verify import violations
from tests.support import copy_site, wait_for
from tests.txn.rig import quote_body, transfer_body
from tests.txn.serving import TxnProcess, bootstrapped_site, fund

KILLS = 4
CLIENTS = 4


def test_sigkill_loses_no_acknowledged_transfer_and_pays_none_twice(
        tmp_path: Path, dsn: str) -> None:
    site_dir = bootstrapped_site(copy_site(tmp_path))
    txn = TxnProcess(site_dir, tmp_path, dsn)
    txn.start()
    fund(txn)
    acked: dict[str, str] = {}  # reference -> transfer id, only for 201 answers
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        eig, i = txn.client("eig"), 0
        while not stop.is_set():
            i += 1
            ref = f"c{n}-{i}"
            try:
                status, quote = eig.post("/internal/v1/quotes", quote_body("100.00"),
                                         key=f"q-{ref}")
                if status != 201:
                    continue
                status, t = eig.post("/internal/v1/transfers",
                                     transfer_body(quote["id"], ref), key=f"t-{ref}")
            except OSError:
                stop.wait(0.02)  # the server is down: try again once it is back
                continue
            if status == 201:
                with lock:
                    acked[ref] = t["id"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    try:
        for _ in range(KILLS):
            target = len(acked) + rng.randint(10, 60)
            wait_for(lambda target=target: len(acked) >= target, timeout=30,
                     what="transfers to be acknowledged")
            txn.kill(signal.SIGKILL)
            txn.start()
        target = len(acked) + 20
        wait_for(lambda: len(acked) >= target, timeout=30, what="transfers after the last kill")
    finally:
        stop.set()
        for t in threads:
            t.join()
    # The restarted worker finishes every payout the kills interrupted.
    conn = open_store(dsn, tmp_path)
    try:
        def settled() -> bool:
            return not q.transfers(conn, status="ACCEPTED", limit=1) and not q.transfers(
                conn, status="SUBMITTED", limit=1)
        wait_for(settled, timeout=40, what="payouts to settle")
        txn.kill(signal.SIGTERM)
        stored = {r.reference: r for r in q.transfers(conn, limit=100_000)}
        assert len(acked) >= KILLS * 10
        for ref, transfer_id in acked.items():
            assert ref in stored and stored[ref].id == transfer_id
            assert stored[ref].status == "COMPLETED"
        completed = conn.query(
            "SELECT transfer_id, COUNT(*) FROM events WHERE type = 'transfer.status' "
            "AND data LIKE ? GROUP BY transfer_id", ('%"status":"COMPLETED"%',))
        assert all(n == 1 for _, n in completed)
        payouts = conn.query("SELECT COUNT(*) FROM payouts")[0][0]
        assert payouts == len(completed) == sum(
            1 for r in stored.values() if r.status == "COMPLETED")
        assert violations(load_site(site_dir), conn) == []
    finally:
        conn.close()
        txn.kill(signal.SIGKILL)
