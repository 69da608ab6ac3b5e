"""`corridor demo` tells the whole journey; `corridor up` runs the hub's servers until
SIGTERM and then stops every one of them."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from corridor.sim.world import make_site
from corridor.stack import Stack
from tests.support import REPO, free_port, wait_for


def test_the_demo_prints_every_hop_and_exits_cleanly(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "corridor", "demo", "--data", str(tmp_path)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for hop in ("with its client certificate CN=payfast,O=PayFast Remittances,C=IN",
                "(matches its pin)", "POST /v1/quotes", "ACCEPTED", "payout submitted to MobiCash",
                "credited 15180.82 KES", "receiver callback SUCCESS", "COMPLETED",
                "sender callback COMPLETED received, signature verified", "ledger verified",
                "/recall -> 202 REQUESTED", "receiver callback RETURNED", "RETURNED (recalled)",
                "sender callback RETURNED received (recall RETURNED)", "demo complete",
                # the second corridor, over ISO 20022
                "IslaPay (Philippines, PHP), a bank that speaks ISO 20022",
                "POSTed to https://", "/iso20022/pacs.008 over mTLS; pacs.002 ACSP back",
                "pacs.002 ACSC (settled) -> POST /v1/iso20022/pacs.002 on EIG",
                "COMPLETED: paid out over ISO 20022"):
        assert hop in out, hop
    assert (tmp_path / "demo" / "site" / "pki" / "hub" / "txn.key").stat().st_mode & 0o077 == 0
    assert "Traceback" not in result.stderr
    # It says where its site and data are, and how to look at them afterwards: the commands
    # as printed read the demo's store, from any directory.
    lines = out.splitlines()
    assert f"site  {tmp_path / 'demo' / 'site'}" in lines
    assert any(line.startswith(f"data  {tmp_path / 'demo' / 'data'} ") for line in lines)
    later = lines[lines.index("to look at them afterwards:") + 1:]
    assert len(later) == 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("CORRIDOR_DATA", "CORRIDOR_SITE")}
    got = [subprocess.run(shlex.split(line), cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=60) for line in later]
    assert [r.returncode for r in got] == [0, 0, 0, 0], [r.stderr for r in got]
    assert got[0].stdout == "ledger ok\n" and "float:payfast" in got[1].stdout
    tid = re.search(r"POST /v1/transfers -> (\S+) ACCEPTED", out)
    assert tid and tid[1] in got[2].stdout and "COMPLETED" in got[2].stdout
    # Its transfer's whole path, every hop's span among the steps (PayFast traced it).
    assert got[3].stdout.startswith(tid[1])
    assert "sender callback to payfast (attempt" in got[3].stdout


def test_up_runs_the_servers_until_sigterm(tmp_path: Path) -> None:
    ports = {n: free_port() for n in ("eig", "eig_internal", "txn", "rpt", "jump")}
    site_dir = make_site(tmp_path, ports)
    data = tmp_path / "data"
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "corridor", "up", "--site", str(site_dir),
                             "--data", str(data)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        probe = Stack(site_dir, data)
        wait_for(lambda: "all servers up" in (tmp_path / "up.log").read_text(), timeout=60,
                 what="corridor up")
        assert probe._txn_healthy() and probe._eig_healthy()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not probe._txn_healthy() and not probe._eig_healthy()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def test_up_without_pki_says_what_to_do(tmp_path: Path) -> None:
    from tests.support import copy_site

    site_dir = copy_site(tmp_path)
    result = subprocess.run([sys.executable, "-m", "corridor", "up", "--site", str(site_dir),
                             "--data", str(tmp_path / "data")], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "corridor pki bootstrap" in result.stderr and "Traceback" not in result.stderr
