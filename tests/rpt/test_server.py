"""RPT's listener over real mTLS: EIG gets a partner's own reports and nothing else; bad
input is problem+json with a stable code; callers without a hub certificate are refused."""

from __future__ import annotations

import csv
import io
import json
import ssl
import urllib.error
from datetime import UTC, datetime, timedelta

import pytest

from tests.rpt.server import get, problem, running_rpt
from tests.support import copy_site


@pytest.fixture(scope="module")
def rpt(tmp_path_factory, recent_history):  # type: ignore[no-untyped-def]
    from corridor.rpt.store import connect, store_path
    from tests.rpt.rig import fill, make_pki

    site_dir = copy_site(tmp_path_factory.mktemp("rpt"))
    make_pki(site_dir)
    site, history = recent_history
    data = site_dir.parent / "var"
    con = connect(store_path(site, data))
    fill(con, history)
    con.close()
    with running_rpt(site_dir, data, "--no-feed") as url:
        yield site_dir, url, history


def test_eig_gets_the_partners_own_report(rpt) -> None:  # type: ignore[no-untyped-def]
    site, url, history = rpt
    day = history.start.date().isoformat()
    status, ctype, body = get(site, "eig", f"{url}/internal/v1/reports/transactions"
                              f"?from={day}&to={day}&format=csv",
                              {"Corridor-Partner": "payfast"})
    assert status == 200 and ctype.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert rows and {r["role"] for r in rows} == {"send"}
    assert {r["send_currency"] for r in rows} == {"INR"}
    status, ctype, body = get(site, "eig", f"{url}/internal/v1/reports/transactions"
                              f"?from={day}&to={day}", {"Corridor-Partner": "payfast"})
    assert status == 200 and json.loads(body)["count"] == len(rows)


def test_settlement_statement_through_eig(rpt) -> None:  # type: ignore[no-untyped-def]
    site, url, history = rpt
    day = (history.start + timedelta(days=1)).date().isoformat()
    status, _, body = get(site, "eig", f"{url}/internal/v1/reports/settlement?date={day}",
                          {"Corridor-Partner": "mobicash"})
    assert status == 200
    st = json.loads(body)
    assert st["partner"] == "mobicash" and st["sent"] == []
    assert st["received"][0]["partner"] == "mobicash"
    assert st["positions"][0]["instructions"][0].startswith("hub pays MobiCash Kenya")


@pytest.mark.parametrize(("path", "headers", "status", "code"), [
    ("transactions?partner=mobicash&from=2026-01-01&to=2026-01-02", {"Corridor-Partner": "payfast"},
     403, "foreign_report"),
    ("settlement?partner=desertx&date=2026-01-01", {"Corridor-Partner": "payfast"},
     403, "foreign_report"),
    ("transactions?from=2026-01-01&to=2026-01-02", {}, 403, "partner_missing"),
    ("settlement?date=2026-02-31", {"Corridor-Partner": "payfast"}, 422, "invalid_date"),
    ("settlement?date=tomorrow", {"Corridor-Partner": "payfast"}, 422, "invalid_date"),
    ("settlement", {"Corridor-Partner": "payfast"}, 422, "invalid_date"),
    ("transactions?from=2026-01-02&to=2026-01-01", {"Corridor-Partner": "payfast"},
     422, "invalid_period"),
    ("transactions?from=2026-01-01&to=2026-01-02", {"Corridor-Partner": "ghost"},
     422, "unknown_partner"),
    ("transactions?from=2026-01-01&to=2026-01-02&format=xml", {"Corridor-Partner": "payfast"},
     422, "invalid_format"),
    ("compliance?from=2026-01-01&to=2026-01-02", {}, 403, "caller_not_allowed"),
])
def test_bad_requests_get_a_problem_with_a_stable_code(rpt, path, headers, status, code) -> None:  # type: ignore[no-untyped-def]
    site, url, _ = rpt
    got, ctype, body = get(site, "eig", f"{url}/internal/v1/reports/{path}", headers)
    assert (got, problem(body)) == (status, code)
    assert ctype.startswith("application/problem+json")


def test_future_periods_are_refused(rpt) -> None:  # type: ignore[no-untyped-def]
    site, url, _ = rpt
    later = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    got, _, body = get(site, "eig", f"{url}/internal/v1/reports/settlement?date={later}",
                       {"Corridor-Partner": "payfast"})
    assert (got, problem(body)) == (422, "period_in_future")


def test_only_eig_and_operators_may_call(rpt) -> None:  # type: ignore[no-untyped-def]
    site, url, history = rpt
    day = history.start.date().isoformat()
    got, _, body = get(site, "txn", f"{url}/internal/v1/reports/settlement?date={day}"
                       "&partner=payfast")
    assert (got, problem(body)) == (403, "caller_not_allowed")
    got, _, _ = get(site, "rpt", f"{url}/internal/v1/reports/compliance?from={day}&to={day}")
    assert got == 200
    got, _, body = get(site, "eig", f"{url}/")
    assert (got, problem(body)) == (403, "caller_not_allowed")
    # A certificate from another CA never completes the handshake.
    with pytest.raises((ssl.SSLError, urllib.error.URLError, ConnectionError)):
        get(site, "stranger", f"{url}/healthz")


def test_operator_commands_ask_the_running_server(rpt) -> None:  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from corridor.cli import cli

    site, _, history = rpt
    data = site.parent / "var"
    day = history.end.date().isoformat()
    where = ["--site", str(site), "--data", str(data)]
    runner = CliRunner()
    settle = runner.invoke(cli, ["rpt", "settle", "--date", day, *where])
    assert settle.exit_code == 0, settle.stderr
    assert "hub pays MobiCash Kenya" in settle.stdout
    report = runner.invoke(cli, ["rpt", "report", "--partner", "desertx", "--from", day,
                                 "--to", day, *where])
    assert report.exit_code == 0 and report.stdout.startswith("transfer_id,role,")
    bad = runner.invoke(cli, ["rpt", "settle", "--date", day, "--partner", "ghost", *where])
    assert bad.exit_code == 1 and bad.stderr.startswith("error: unknown_partner")
