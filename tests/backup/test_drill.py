"""The restore drill an auditor asks to see: a backup of a serving hub, restored into a fresh
place, passes `ledger verify`; TXN serves the restored store, RPT rebuilds from its feed
and `rpt verify` agrees with its ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from corridor import processes
from corridor.store import connect
from corridor.store import reads as q
from tests.rpt.conftest import make_pki
from tests.rpt.server import get, set_listen
from tests.rpt.test_txn_integration import make_transfers
from tests.support import REPO, copy_site, free_port, wait_for

ENV = {**os.environ, "CORRIDOR_CONNECTOR": "in-process", "PYTHONUNBUFFERED": "1"}


def corridor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corridor", *map(str, args)], cwd=REPO,
                          env=ENV, capture_output=True, text=True, timeout=120)


@contextmanager
def serving_txn(site: Path, data: Path, dsn: str, log: Path) -> Iterator[str]:
    """`corridor serve txn` on `dsn`, at the site's listen.txn; its log goes to `log`."""
    port = site.joinpath("hub.yaml").read_text().split("txn: {host: 127.0.0.1, port: ")[1]
    url = f"https://127.0.0.1:{port.split('}')[0]}"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "corridor", "serve", "txn", "--site",
                                 str(site), "--data", str(data), "--store", dsn],
                                cwd=REPO, env=ENV, stdout=out, stderr=subprocess.STDOUT)

    def up() -> bool:
        if proc.poll() is not None:
            return True
        try:
            return get(site, "eig", url + "/healthz")[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=30, what="txn listening")
        assert proc.poll() is None, log.read_text()[-2000:]
        yield url
    finally:
        processes.stop(proc, timeout=10)


def test_restore_drill_ledger_verify_then_rpt_rebuilds_and_agrees(
        dsn: str, restore_dsn: str, tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    make_pki(site)
    set_listen(site, "txn", free_port())
    data, backup, restored = tmp_path / "var", tmp_path / "backup", tmp_path / "restored"
    on = ("--site", site, "--data", data, "--store", dsn)
    assert corridor("store", "init", *on).returncode == 0
    funded = corridor("ledger", "fund", "payfast", "5000000.00", "--reference", "dep-1", *on)
    assert funded.returncode == 0, funded.stderr

    with serving_txn(site, data, dsn, tmp_path / "txn.log") as url:
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

    with serving_txn(site, restored, restore_dsn, tmp_path / "restored-txn.log"):
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
