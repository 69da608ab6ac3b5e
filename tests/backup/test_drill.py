"""The restore drill an auditor asks to see: a backup of a serving hub, restored into a fresh
place, passes `ledger verify`; TXN serves the restored store, RPT rebuilds from its feed
and `rpt verify` agrees with its ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corridor.store import connect
from corridor.store import reads as q
from tests.backup.conftest import corridor
from tests.rpt.rig import make_pki
from tests.rpt.server import get, running_txn
from tests.rpt.test_txn_integration import make_transfers
from tests.support import copy_site, wait_for


def test_restore_drill_ledger_verify_then_rpt_rebuilds_and_agrees(
        dsn: str, restore_dsn: str, tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    make_pki(site)
    data, backup, restored = tmp_path / "var", tmp_path / "backup", tmp_path / "restored"
    on = ("--site", site, "--data", data, "--store", dsn)
    assert corridor("store", "init", *on).returncode == 0
    funded = corridor("ledger", "fund", "payfast", "5000000.00", "--reference", "dep-1", *on)
    assert funded.returncode == 0, funded.stderr

    with running_txn(site, data, "--store", dsn) as url:
        ids = make_transfers(site, url, 8)

        def all_completed() -> bool:
            return all(json.loads(get(site, "eig", f"{url}/internal/v1/transfers/{tid}",
                                      {"Corridor-Partner": "payfast"})[2])["status"]
                       == "COMPLETED" for tid in ids)

        wait_for(all_completed, timeout=60, interval=0.2, what="TXN completing the transfers")
        took = corridor("backup", *on, "--to", backup)
        assert took.returncode == 0, took.stderr
        # Beside the serving hub, after the backup: not in it.
        later = corridor("ledger", "fund", "payfast", "1.00", "--reference", "dep-2", *on)
        assert later.returncode == 0, later.stderr
    figures = json.loads((backup / "manifest.json").read_text())["figures"]
    assert figures["transfers"] == 8

    into = ("--site", site, "--data", restored, "--store", restore_dsn)
    done = corridor("restore", *into, "--from", backup)
    assert done.returncode == 0, done.stderr
    verify = corridor("ledger", "verify", *into)
    assert (verify.returncode, verify.stdout.strip()) == (0, "ledger ok"), verify.stderr
    conn = connect(dsn, data)
    try:  # the deposit made after the backup is in the hub's store, not in the backup
        assert q.last_event_seq(conn) > figures["last_event_seq"]
    finally:
        conn.close()

    with running_txn(site, restored, "--store", restore_dsn):
        # RPT's store is not in the backup: it is built afresh from the restored feed.
        assert not (restored / "rpt.duckdb").exists()
        ingest = corridor("rpt", "ingest", "--site", site, "--data", restored)
        assert ingest.returncode == 0, ingest.stderr
        assert ingest.stdout.strip().endswith(
            f"cursor at {figures['last_event_seq']} ({figures['events']} events in all)")
        today = datetime.now(UTC).date()
        agree = corridor("rpt", "verify", "--site", site, "--data", restored,
                         "--from", str(today - timedelta(days=1)),
                         "--to", str(today + timedelta(days=1)))
        assert agree.returncode == 0, agree.stdout + agree.stderr
        assert "RPT matches TXN's ledger" in agree.stdout
