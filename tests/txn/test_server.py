"""`corridor serve txn` over real mutual TLS: who may call, problem+json for every error,
health and metrics."""

from __future__ import annotations

import signal
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import copy_site, wait_for
from tests.txn.rig import quote_body, transfer_body
from tests.txn.serving import TxnProcess, bootstrapped_site, fund


@pytest.fixture
def txn(tmp_path: Path, dsn: str) -> Iterator[TxnProcess]:
    site_dir = bootstrapped_site(copy_site(tmp_path))
    proc = TxnProcess(site_dir, tmp_path, dsn)
    proc.start()
    try:
        yield proc
    finally:
        proc.kill(signal.SIGTERM)


def test_eig_creates_a_transfer_and_the_worker_completes_it(txn: TxnProcess) -> None:
    fund(txn)  # a CLI-side writer beside the running server
    eig = txn.client("eig")
    status, quote = eig.post("/internal/v1/quotes", quote_body(), key="q-1")
    assert status == 201
    status, t = eig.post("/internal/v1/transfers", transfer_body(quote["id"]), key="t-1")
    assert (status, t["status"]) == (201, "ACCEPTED")
    done = wait_for(lambda: (r := eig.get(f"/internal/v1/transfers/{t['id']}", "payfast"))[1]
                    ["status"] == "COMPLETED" and r, what="payout to complete")
    assert [h["status"] for h in done[1]["history"]][-1] == "COMPLETED"
    rpt = txn.client("rpt")
    status, page = rpt.get("/internal/v1/events?after=0&limit=100")
    assert status == 200
    assert [e["seq"] for e in page["events"]] == sorted(e["seq"] for e in page["events"])
    assert page["events"][-1]["data"]["status"] == "COMPLETED"
    status, balances = rpt.get("/internal/v1/ledger/balances")
    assert {"account": "revenue:fee:INR", "currency": "INR", "posted": 5500,
            "pending": 0} in balances
    status, text = eig.get("/metrics")
    assert status == 200 and "corridor_txn_requests_total" in text
    assert 'corridor_txn_float_available{currency="INR",partner="payfast"}' in text


def test_only_eig_and_rpt_are_let_in(txn: TxnProcess) -> None:
    status, problem = txn.client("rpt").post("/internal/v1/quotes", quote_body())
    assert (status, problem["code"]) == (403, "caller_not_allowed")
    for who in ("none", "payfast"):  # no certificate; a partner CA certificate
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            txn.client(who).get("/healthz")


def test_every_error_is_problem_json_with_a_code(txn: TxnProcess) -> None:
    eig = txn.client("eig")
    cases = [
        (eig.post("/internal/v1/quotes", b"{nope", key="a"), 400, "malformed_json"),
        (eig.post("/internal/v1/quotes", quote_body("1.234"), key="b"), 422, "invalid_amount"),
        (eig.post("/internal/v1/quotes", quote_body(), key=None), 400, "idempotency_key_missing"),
        (eig.post("/internal/v1/quotes", b"{" + b" " * 70_000 + b"}", key="c"), 413,
         "body_too_large"),
        (eig.get("/internal/v1/nowhere", "payfast"), 404, "not_found"),
        (eig.request("DELETE", "/internal/v1/quotes"), 405, "method_not_allowed"),
        (eig.get("/internal/v1/transfers/nope", "payfast"), 404, "transfer_not_found"),
        (eig.post("/internal/v1/quotes", quote_body(), partner="nobody", key="d"), 403,
         "unknown_partner"),
    ]
    for (status, body), want_status, want_code in cases:
        assert (status, body["code"]) == (want_status, want_code)
        assert "Traceback" not in str(body)
