"""`corridor trace` shows the demo's transfer end to end, each hop in order, from the
records the servers left behind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from corridor.eig.audit import SecurityAuditLog
from corridor.eig.server import audit_path
from tests.support import REPO


def _corridor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corridor", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def test_trace_shows_the_demo_transfer_hop_by_hop(tmp_path: Path) -> None:
    demo = _corridor("demo", "--data", str(tmp_path))
    assert demo.returncode == 0, demo.stdout + demo.stderr
    tid = re.search(r"POST /v1/transfers -> (\S+) ACCEPTED", demo.stdout)
    assert tid
    data = tmp_path / "demo" / "data"
    where = ("--site", str(tmp_path / "demo" / "site"), "--data", str(data))
    # A receiver callback about the transfer that EIG refused, as EIG's audit log records it.
    audit = SecurityAuditLog(audit_path(data))
    audit.refusal(source_ip="10.20.0.7", reason="callback_signature_invalid",
                  fingerprint="ab" * 32, partner="mobicash", transfer_id=tid[1],
                  request="POST /v1/callbacks/payout")
    audit.close()

    text = _corridor("trace", tid[1], *where)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert tid[1] in lines[0] and "COMPLETED" in lines[0]
    wanted = ["quote ", "status ACCEPTED", "screening: clear", "reserve (pending",
              "payout to mobicash: done", "status COMPLETED", "post (posted",
              "sender callback to payfast: done"]
    at = [next(i for i, line in enumerate(lines) if w in line) for w in wanted]
    assert at[:2] == sorted(at[:2]) and at[1] < at[5] < at[7], text.stdout
    assert re.search(r"\+\d+\.\d{3}s", text.stdout)
    refused = next(line for line in lines if "EIG" in line and "refused" in line)
    assert "refused POST /v1/callbacks/payout: callback_signature_invalid" in refused
    assert lines.index(refused) > at[-1]

    as_json = _corridor("trace", tid[1], "--json", *where)
    got = json.loads(as_json.stdout)
    assert got["transfer"]["id"] == tid[1]
    hops = [s["hop"] for s in got["steps"]]
    assert {"TXN", "ledger", "outbox", "EIG"} <= set(hops)
    assert got["steps"][-1]["fingerprint"] == "ab" * 32
    assert got["steps"][0]["after_s"] is None
    assert all(s["after_s"] >= 0 for s in got["steps"][1:])
    # Store, spans and audit log keep times in forms of their own; the timeline has one.
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", s["at"])
               for s in got["steps"]), [s["at"] for s in got["steps"]]

    # The servers' spans of the partner's call that created it, in one trace (the demo's
    # PayFast asks for its calls to be traced).
    spans = [s for s in got["steps"] if "span_id" in s]
    eig = next(s for s in spans if s["what"].startswith("create_transfer from "))
    txn = next(s for s in spans if s["what"].startswith("txn POST /internal/v1/transfers"))
    assert eig["hop"] == "EIG" and txn["hop"] == "TXN"
    assert txn["parent_id"] == eig["span_id"] and txn["trace_id"] == eig["trace_id"]
    assert eig["attributes"]["tls.client.fingerprint"]
    assert txn["attributes"]["corridor.transfer_id"] == tid[1]
    assert any(s["what"].startswith("sender callback to payfast") for s in spans)

    by_reference = _corridor("trace", "--partner", "payfast", "--reference",
                             got["transfer"]["reference"], "--json", *where)
    assert json.loads(by_reference.stdout) == got

    missing = _corridor("trace", "nonesuch", *where)
    assert missing.returncode != 0
    assert missing.stderr == "error: transfer nonesuch not found\n"
    unknown = _corridor("trace", "--partner", "payfast", "--reference", "nope", *where)
    assert unknown.returncode != 0 and len(unknown.stderr.splitlines()) == 1
    assert "Traceback" not in unknown.stderr
