"""Settlement, reports and metrics on generated histories match the ledger TXN would have
posted, to the minor unit; bad input is refused with a stable code and nothing computed."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import msgspec
import pytest

from corridor.core.errors import InvalidInput
from corridor.rpt import metrics, periods, reports
from corridor.rpt.history import generate
from corridor.rpt.settlement import settle
from corridor.rpt.store import connect
from corridor.rpt.verify import compare, expected_activity
from corridor.site import load_site
from tests.rpt.rig import fill
from tests.support import EXAMPLE_SITE

START = datetime(2026, 3, 1, 6, 30, tzinfo=UTC)
NOW = datetime(2026, 3, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    site = load_site(EXAMPLE_SITE)
    history = generate(site, transfers=6000, start=START, days=3, page_size=1500, seed=5)
    con = connect()
    fill(con, history)
    return site, history, con


def days(site):  # type: ignore[no-untyped-def]
    cutoff = site.hub.settlement_cutoff
    return [(d, periods.business_day(d, cutoff)) for d in
            (date(2026, 3, 1) + timedelta(days=n) for n in range(5))]


def test_settlement_matches_the_ledger_to_the_minor_unit(world) -> None:  # type: ignore[no-untyped-def]
    site, history, con = world
    completed_anywhere = 0
    for day, period in days(site):
        st = settle(con, site, day, period)
        ledger = history.ledger(period.start, period.end)
        for s in st.sends:
            assert -s.debited + st.deposits.get((s.partner, s.currency), 0) == ledger[
                (f"float:{s.partner}:{s.currency}", s.currency)]
        fees = Counter()
        margins = Counter()
        for s in st.sends:
            fees[s.currency] += s.fees
            margins[s.currency] += s.fx_margin
        for cur, fee in fees.items():
            assert ledger[(f"revenue:fee:{cur}", cur)] == fee
            assert ledger[(f"revenue:fx:{cur}", cur)] == margins[cur]
        for r in st.receives:
            assert ledger[(f"settlement:{r.partner}:{r.currency}", r.currency)] == r.paid_out
        assert {a for (a, _) in ledger if a.startswith("settlement:")} == {
            f"settlement:{r.partner}:{r.currency}" for r in st.receives}
        # Every account TXN moved, RPT accounts for: no difference at all.
        assert compare(expected_activity(con, period), ledger) == []
        completed_anywhere += sum(s.count for s in st.sends)
    all_done = con.execute("SELECT count(*) FROM transfers WHERE status = 'COMPLETED'")
    assert completed_anywhere == all_done.fetchall()[0][0] > 4000


def test_cutoff_decides_the_business_day(world) -> None:  # type: ignore[no-untyped-def]
    site, _, con = world
    assert site.hub.settlement_cutoff == time(18, 0)
    day = date(2026, 3, 2)
    period = periods.business_day(day, site.hub.settlement_cutoff)
    assert period.start == datetime(2026, 3, 1, 18, tzinfo=UTC)
    assert period.end == datetime(2026, 3, 2, 18, tzinfo=UTC)
    # A transfer completed after 18:00 on the 2nd settles on the 3rd, not the 2nd.
    late = con.execute("""SELECT id, completed_at FROM transfers
        WHERE completed_at >= TIMESTAMPTZ '2026-03-02 18:00:00+00' ORDER BY completed_at
        LIMIT 1""").fetchall()[0]
    assert periods.business_day_of(late[1], site.hub.settlement_cutoff) == date(2026, 3, 3)
    inside = settle(con, site, date(2026, 3, 3),
                    periods.business_day(date(2026, 3, 3), site.hub.settlement_cutoff))
    before = settle(con, site, day, period)
    assert sum(s.count for s in inside.sends) > 0 and sum(s.count for s in before.sends) > 0


def test_statement_names_who_pays_whom(world) -> None:  # type: ignore[no-untyped-def]
    site, _, con = world
    day = date(2026, 3, 2)
    st = settle(con, site, day, periods.business_day(day, site.hub.settlement_cutoff),
                partner="mobicash")
    assert [s.partner for s in st.sends] == [] and [r.partner for r in st.receives] == [
        "mobicash"]
    (pos,) = st.positions
    assert pos.net == st.receives[0].paid_out > 0
    assert pos.instructions[0].startswith("hub pays MobiCash Kenya ")
    assert pos.instructions[0].endswith(" KES") and "," in pos.instructions[0]
    payfast = settle(con, site, day, periods.business_day(day, site.hub.settlement_cutoff),
                     partner="payfast")
    (line,) = payfast.positions[0].instructions
    assert line.startswith("PayFast Remittances' float was debited ")
    assert line.endswith("INR (prefunded; no transfer due)")


def test_partner_report_holds_its_own_transfers_only(world) -> None:  # type: ignore[no-untyped-def]
    site, _history, con = world
    period = periods.report_period("2026-03-01", "2026-03-04", NOW)
    rows = reports.transaction_rows(con, site, "desertx", period)
    assert rows and all(r["role"] == "send" for r in rows)
    # the generated history pays some AE-KE payouts through KenPay, as the routing rule does
    assert {r["counterparty"] for r in rows} == {"mobicash", "kenpay", "islapay"}
    assert all(r["send_currency"] == "AED" for r in rows)
    truth = con.execute("SELECT count(*), sum(send_amount + fee) FROM transfers "
                        "WHERE send_partner = 'desertx'").fetchall()[0]
    assert len(rows) == truth[0]
    debited = sum(int(r["float_debited"].replace(".", "")) for r in rows)
    assert debited == truth[1]
    received = reports.transaction_rows(con, site, "mobicash", period)
    assert received and all(r["role"] == "receive" and r["fee"] == "" for r in received)
    text = reports.to_csv(rows).decode()
    assert text.splitlines()[0].split(",") == list(reports.COLUMNS)
    assert len(text.splitlines()) == len(rows) + 1
    body = msgspec.json.decode(reports.to_json("desertx", period, rows))
    assert body["count"] == len(rows) and body["transfers"][0] == rows[0]


def test_compliance_metrics_find_what_the_history_holds(world) -> None:  # type: ignore[no-untyped-def]
    site, history, con = world
    period = periods.Period(history.start, history.end)
    m = metrics.compliance(con, site, period, site.hub.settlement_cutoff)
    decoded = [e for p in history.pages for e in msgspec.json.decode(p)["events"]]
    held = {e["transfer_id"] for e in decoded if e["type"] == "transfer.status"
            and e["data"]["status"] == "COMPLIANCE_HOLD"}
    decisions = Counter(e["data"]["decision"] for e in decoded
                        if e["type"] == "compliance.decision")
    assert sum(m["holds"].values()) == len(held)
    assert m["holds"].get("release", 0) == decisions["release"]
    assert m["holds"].get("reject", 0) == decisions["reject"]
    assert m["screening_hits"]["transfers"] == len(held)
    finals = Counter((e["data"]["status"], e["data"]["code"]) for e in decoded
                     if e["type"] == "transfer.status"
                     and e["data"]["status"] in ("REJECTED", "FAILED"))
    assert {(r["status"], r["code"]): r["count"] for r in m["rejections"]} == finals
    # The two generated structuring senders, four transfers each, and no one else.
    assert [(s["transfers"]) for s in m["structuring"]] == [4, 4]
    assert all(float(x["amount"]) >= 250000 for x in m["large"] if x["currency"] == "INR")
    by_corridor = {c["corridor"]: c for c in m["corridors"]}
    assert set(by_corridor) == {"IN-KE", "IN-PH", "AE-KE", "AE-PH"}


@pytest.mark.parametrize(("text", "code"), [
    ("2026-13-01", "invalid_date"), ("yesterday", "invalid_date"), ("", "invalid_date"),
    ("2026-02-30", "invalid_date"), ("2027-01-01", "period_in_future"),
])
def test_bad_settlement_dates_are_refused(text: str, code: str) -> None:
    with pytest.raises(InvalidInput) as err:
        periods.settlement_day(text, time(18), NOW)
    assert err.value.code == code


def test_bad_report_periods_and_partners_are_refused(world) -> None:  # type: ignore[no-untyped-def]
    site, _, con = world
    for start, end, code in [("2026-03-05", "2026-03-01", "invalid_period"),
                             ("2026-03-01", "soon", "invalid_date"),
                             ("2026-04-01", "2026-04-02", "period_in_future")]:
        with pytest.raises(InvalidInput) as err:
            periods.report_period(start, end, NOW)
        assert err.value.code == code
    with pytest.raises(InvalidInput) as err:
        reports.transaction_rows(con, site, "nobody", periods.Period(START, NOW))
    assert err.value.code == "unknown_partner"
    with pytest.raises(InvalidInput):
        settle(con, site, date(2026, 3, 2), periods.Period(START, NOW), partner="nobody")


def test_generated_structuring_stays_in_one_business_day_whenever_the_history_starts() -> None:
    """Whatever the time of day a history starts at (the tests start some at `now`), each
    structuring sender's four transfers fall in one business day, where the metrics look."""
    site = load_site(EXAMPLE_SITE)
    # A sender's four transfers span 21 minutes: on a 20-minute grid of start times, every
    # way of straddling the cut-off comes up at least once.
    for step in range(0, 24 * 60, 20):
        start = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=step)
        history = generate(site, transfers=40, start=start, days=2, seed=11)
        con = connect()
        fill(con, history)
        m = metrics.compliance(con, site, periods.Period(history.start, history.end),
                               site.hub.settlement_cutoff)
        assert [s["transfers"] for s in m["structuring"]] == [4, 4], start
