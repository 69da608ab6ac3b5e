"""Partner reports through EIG: a transfer made through the gateway reaches the real TXN,
RPT follows TXN's feed, and the partner fetches its report back through the gateway with
curl. A partner only ever gets its own; RPT's refusals reach it unchanged."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.eig.conftest import Gateway, Stack, start_gateway, stop_gateway, transfer_body
from tests.support import free_port, wait_for

TODAY = dt.datetime.now(dt.UTC).date().isoformat()


@pytest.fixture(scope="module")
def made(gw: Gateway) -> dict:
    """One PayFast transfer, visible in RPT."""
    body = transfer_body(gw.quote(), "PF-REPORT-1")
    status, created, _ = gw.curl("POST", "/v1/transfers", body=body,
                                 headers={"Idempotency-Key": "report-t1"})
    assert status == 201, created

    def in_report() -> bool:
        status, report, _ = gw.curl("GET", f"/v1/reports/transactions?from={TODAY}&to={TODAY}")
        assert status == 200, report
        return any(row["transfer_id"] == created["id"] for row in report["transfers"])

    wait_for(in_report, timeout=20, interval=0.2, what="the transfer in RPT's report")
    return created


def test_partner_gets_its_own_transactions_report_as_json_and_csv(gw: Gateway, made: dict
                                                                  ) -> None:
    status, report, headers = gw.curl(
        "GET", f"/v1/reports/transactions?from={TODAY}&to={TODAY}&format=json")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert report["partner"] == "payfast"
    row = next(r for r in report["transfers"] if r["transfer_id"] == made["id"])
    assert (row["reference"], row["send_amount"], row["send_currency"]) == (
        "PF-REPORT-1", "1000.00", "INR")
    assert "fx_margin" not in row

    status, text, headers = gw.curl(
        "GET", f"/v1/reports/transactions?from={TODAY}&to={TODAY}&format=csv", text=True)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert made["id"] in {r["transfer_id"] for r in rows}


def test_another_partners_report_cannot_be_asked_for(gw: Gateway, made: dict) -> None:
    """`partner=` in the query is never relayed: PayFast asking for DesertX's report gets
    its own, and DesertX (with its own certificate and key) never sees PayFast's rows."""
    status, report, _ = gw.curl(
        "GET", f"/v1/reports/transactions?from={TODAY}&to={TODAY}&partner=desertx")
    assert status == 200 and report["partner"] == "payfast"
    assert made["id"] in {r["transfer_id"] for r in report["transfers"]}
    status, report, _ = gw.curl(
        "GET", f"/v1/reports/transactions?from={TODAY}&to={TODAY}&partner=payfast",
        partner="desertx", interface="127.0.0.4")
    assert status == 200 and report["partner"] == "desertx"
    assert made["id"] not in {r["transfer_id"] for r in report["transfers"]}
    status, statement, _ = gw.curl("GET", f"/v1/reports/settlement?date={TODAY}&partner=desertx")
    assert status == 200 and statement["partner"] == "payfast" and statement["date"] == TODAY
    # the hub's FX margin is the hub's business: never in a partner's statement
    assert statement["sent"] and all("fx_margin" not in line for line in statement["sent"])


def test_receive_partner_reads_its_settlement(gw: Gateway) -> None:
    status, statement, _ = gw.curl("GET", f"/v1/reports/settlement?date={TODAY}",
                                   partner="mobicash", interface="127.0.0.2")
    assert status == 200 and statement["partner"] == "mobicash"


@pytest.mark.parametrize(("query", "code"), [
    ("transactions?from=yesterday&to=2026-01-01", "invalid_date"),
    ("transactions?to=2026-01-01", "invalid_date"),
    ("transactions?from=2026-01-02&to=2026-01-01", "invalid_period"),
    ("transactions?from=2020-01-01&to=2026-01-01", "invalid_period"),
    (f"transactions?from={TODAY}&to={TODAY}&format=xlsx", "invalid_format"),
    ("settlement?date=2026-13-01", "invalid_date"),
    ("settlement?date=2999-01-01", "period_in_future"),
])
def test_bad_dates_are_rpts_problems_relayed(gw: Gateway, query: str, code: str) -> None:
    status, problem, headers = gw.curl("GET", f"/v1/reports/{query}")
    assert (status, problem["code"]) == (422, code)
    assert headers["content-type"].startswith("application/problem+json")


def test_reports_are_refused_without_identity(gw: Gateway) -> None:
    status, problem, _ = gw.curl("GET", f"/v1/reports/settlement?date={TODAY}", key="")
    assert (status, problem["code"]) == (401, "api_key_missing")


@pytest.fixture
def no_rpt(stack: Stack, tmp_path: Path) -> Iterator[Gateway]:
    """A gateway whose RPT address has nothing listening."""
    g = start_gateway(Stack(stack.site, stack.data, stack.txn,
                            f"https://127.0.0.1:{free_port()}"), tmp_path / "eig")
    yield g
    stop_gateway(g)


def test_rpt_down_is_503_reports_unavailable(no_rpt: Gateway) -> None:
    status, problem, headers = no_rpt.curl("GET", f"/v1/reports/settlement?date={TODAY}")
    assert (status, problem["code"]) == (503, "reports_unavailable")
    assert headers["content-type"].startswith("application/problem+json")
    # The rest of the API does not depend on RPT.
    assert no_rpt.curl("GET", "/v1/transfers")[0] == 200
