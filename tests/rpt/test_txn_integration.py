"""RPT against the real TXN server: transfers made through TXN's internal API are followed
live from its event feed, and RPT's settlement and `corridor rpt verify` match TXN's ledger
to the minor unit."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from corridor.rpt import periods
from corridor.site import load_site
from tests.rpt.rig import make_pki
from tests.rpt.server import context, get, running_rpt, running_txn, scrape
from tests.support import REPO, wait_for

ENV = {**os.environ, "CORRIDOR_CONNECTOR": "in-process", "PYTHONUNBUFFERED": "1"}


def corridor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "corridor", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=120)


def post(site: Path, url: str, body: dict, partner: str, key: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Content-Type": "application/json", "Corridor-Partner": partner, "Idempotency-Key": key})
    try:
        with urllib.request.urlopen(req, context=context(site, "eig"), timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def txn(tmp_path: Path):  # type: ignore[no-untyped-def]
    from tests.support import copy_site

    site = copy_site(tmp_path)
    make_pki(site)
    data = tmp_path / "var"
    assert corridor("store", "init", "--site", str(site), "--data", str(data)).returncode == 0
    funded = corridor("ledger", "fund", "payfast", "5000000.00", "--reference", "dep-rpt-1",
                      "--site", str(site), "--data", str(data))
    assert funded.returncode == 0, funded.stderr
    with running_txn(site, data) as url:
        yield site, data, url


def make_transfers(site: Path, url: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        country, cur = (("KE", "KES"), ("PH", "PHP"))[n % 2]
        status, quote = post(site, f"{url}/internal/v1/quotes", {
            "send_currency": "INR", "receive_currency": cur, "destination_country": country,
            "payout_method": "wallet", "send_amount": f"{1000 + 137 * n}.{n % 100:02d}",
        }, "payfast", f"q-{n}")
        assert status in (200, 201), quote
        status, transfer = post(site, f"{url}/internal/v1/transfers", {
            "quote_id": quote["id"], "reference": f"rpt-it-{n}",
            "sender": {"name": f"Ravi Kumar {n}", "account": f"PF{n:06d}", "id_type": "passport",
                       "id_number": f"P{n:07d}", "address": "12 MG Road, Pune",
                       "country": "IN"},
            "beneficiary": {"name": f"Achieng Otieno {n}", "account": f"2547000{n:05d}",
                            "phone": f"+2547000{n:05d}", "country": country},
            "purpose": "family_support", "source_of_funds": "salary",
        }, "payfast", f"t-{n}")
        assert status in (200, 201, 202), transfer
        ids.append(transfer["id"])
    return ids


def test_rpt_follows_txn_and_matches_its_ledger(txn) -> None:  # type: ignore[no-untyped-def]
    site, data, url = txn
    ids = make_transfers(site, url, 12)

    def all_final() -> bool:
        done = []
        for tid in ids:
            status, _, body = get(site, "eig", f"{url}/internal/v1/transfers/{tid}",
                                  {"Corridor-Partner": "payfast"})
            done.append(status == 200 and json.loads(body)["status"] == "COMPLETED")
        return all(done)

    wait_for(all_final, timeout=60, interval=0.2, what="TXN completing the transfers")
    _, _, page = get(site, "rpt", f"{url}/internal/v1/events?after=0&limit=5000")
    total_events = len(json.loads(page)["events"])

    s = load_site(site)
    today = periods.business_day_of(datetime.now(UTC), s.hub.settlement_cutoff)
    with running_rpt(site, data) as rpt_url:
        def caught_up() -> bool:
            _, _, body = get(site, "rpt", f"{rpt_url}/api/dashboard")
            return json.loads(body)["feed"]["events"] == total_events
        wait_for(caught_up, timeout=30, interval=0.2, what="RPT following TXN's feed")
        # Caught up: RPT's cursor is TXN's newest event and the lag is a poll or two.
        _, _, body = get(site, "eig", f"{url}/metrics")
        head = re.search(r"^corridor_txn_event_seq ([0-9.e+]+)$", body.decode(), re.M)
        figures = scrape(site, rpt_url)
        assert head and figures["corridor_rpt_feed_cursor"] == float(head[1])
        assert figures["corridor_rpt_feed_lag_seconds"] < 10
        status, _, body = get(site, "rpt", f"{rpt_url}/internal/v1/reports/settlement"
                              f"?date={today}&partner=payfast")
        assert status == 200
        statement = json.loads(body)
        # the copy EIG relays to the partner is the same less the hub's FX margin
        status, _, body = get(site, "eig", f"{rpt_url}/internal/v1/reports/settlement"
                              f"?date={today}", {"Corridor-Partner": "payfast"})
        partner_copy = json.loads(body)
        assert status == 200 and "fx_margin" not in partner_copy["sent"][0]
        assert partner_copy["sent"][0]["fees"] == statement["sent"][0]["fees"]
        # While the server holds the store, the command asks it; the answer is the same.
        live = corridor("rpt", "verify", "--date", today.isoformat(), "--site", str(site),
                        "--data", str(data))
        assert live.returncode == 0, live.stdout + live.stderr

    period = periods.business_day(today, s.hub.settlement_cutoff)
    bounds = {"from": period.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
              "to": period.end.strftime("%Y-%m-%dT%H:%M:%SZ")}
    _, _, body = get(site, "rpt", f"{url}/internal/v1/ledger/activity?"
                     + urllib.parse.urlencode(bounds))
    ledger = {(r["account"], r["currency"]): r["posted"] for r in json.loads(body)}
    (sent,) = statement["sent"]
    assert sent["count"] == 12
    minor = int(sent["float_debited"].replace(".", ""))
    assert ledger[("float:payfast:INR", "INR")] == 500_000_000 - minor
    assert ledger[("revenue:fee:INR", "INR")] == int(sent["fees"].replace(".", ""))
    assert ledger[("revenue:fx:INR", "INR")] == int(sent["fx_margin"].replace(".", ""))

    verify = corridor("rpt", "verify", "--date", today.isoformat(), "--site", str(site),
                      "--data", str(data))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "matches TXN's ledger" in verify.stdout
    settle = corridor("rpt", "settle", "--date", today.isoformat(), "--site", str(site),
                      "--data", str(data))
    assert settle.returncode == 0, settle.stderr
    assert "hub pays MobiCash Kenya" in settle.stdout
    assert "hub pays IslaPay Philippines" in settle.stdout
