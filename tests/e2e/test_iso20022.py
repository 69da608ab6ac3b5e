"""The journey with a receive partner that speaks ISO 20022 (the MobiCash simulator in its
ISO mode: pacs.008 in, pacs.002 answers and callbacks, pacs.028 status requests) and a
send partner that chose it too (PayFast: pacs.008 to EIG, pacs.002 answers and sender
callbacks; its JSON calls keep working and are answered the same way), over
real HTTPS with mTLS on every hop, on SQLite and PostgreSQL: the payout, its status, the
UNKNOWN path and the JSON connector's faults repeated, the ledger verified after each.
Every message is validated against its XSD by whoever receives it: the simulator refuses
an invalid pacs.008 or pacs.028 (the payout would fail), the hub an invalid pacs.002."""

from __future__ import annotations

import asyncio
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corridor.core.ids import new_id
from corridor.core.money import Money
from corridor.core.signature import HEADER, sign
from corridor.iso20022 import pacs002, pacs008, parse
from corridor.iso20022.tree import message_id, transfer_id
from corridor.sim.driver import SendDriver
from corridor.sim.faults import InjectedFaults
from corridor.sim.identity import PartnerIdentity
from corridor.sim.world import World
from corridor.site.edit import SiteEdit
from corridor.store import reads as q
from tests.e2e.journeys import (
    credits,
    funded_world,
    history,
    send,
    settled,
    take_down,
    wait_status,
)
from tests.support import wait_for

ISO_BLOCK = {"bic": "MOBIKENA", "messages": ["pacs.008.001.08", "pacs.002.001.10",
                                             "pacs.028.001.03"]}


def speak_iso(site_dir: Path, partner: str = "mobicash") -> None:
    edit = SiteEdit(site_dir)
    edit.set(f"partners/{partner}.yaml", ["connector"], "iso20022")
    edit.set(f"partners/{partner}.yaml", ["iso20022"], ISO_BLOCK)
    edit.commit()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    def prepare(site_dir: Path) -> None:
        speak_iso(site_dir)
        edit = SiteEdit(site_dir)
        edit.set("partners/payfast.yaml", ["iso20022"], {"bic": "PAYFINBB"})
        edit.commit()

    with funded_world(tmp_path_factory.mktemp("isoworld"), request.param, "iso",
                      prepare=prepare) as w:
        yield w


@pytest.fixture(autouse=True)
def calm(world: World) -> Iterator[None]:
    defaults = InjectedFaults().as_dict()
    world.faults(**defaults)
    yield
    world.faults(**defaults)


def post_as(world: World, partner: str, path: str, body: bytes,
            signed: bool = True) -> tuple[int, bytes]:
    """POST an ISO message to EIG as `partner`, from its allowed address, with its key."""
    site = world.site
    ident = PartnerIdentity.of(site, partner, site.partners[partner].role)
    eig = site.hub.listen["eig"]
    source = {"payfast": "127.0.0.1", "mobicash": "127.0.0.2", "islapay": "127.0.0.3",
              "desertx": "127.0.0.4"}[partner]
    conn = http.client.HTTPSConnection(eig.host, eig.port, timeout=10,
                                       context=ident.client_tls(), source_address=(source, 0))
    headers = {"Content-Type": "application/xml", "Authorization": f"Bearer {ident.api_key()}"}
    if signed:
        headers[HEADER] = sign(ident.secret, body, int(time.time()))
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def report_of(raw: bytes) -> pacs002.StatusReport:
    """The answer, validated against the pacs.002 XSD, read."""
    return pacs002.read(parse(raw, pacs002.MESSAGE)[1])


def audit_lines(world: World) -> list[dict[str, Any]]:
    path = world.data_dir / "eig" / "security-audit.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_payout_over_iso20022_completes_by_pacs002(world: World) -> None:
    ids = send(world, 3)
    settled(world, ids, "COMPLETED")
    assert history(world, ids[0]) == ["RECEIVED", "ACCEPTED", "SUBMITTED", "COMPLETED"]
    acked = world.receiver_callbacks(ids[0])
    assert [(c["status"], c["acknowledged"]) for c in acked] == [("SUCCESS", True)]


def test_a_rejected_payout_fails_with_its_iso_reason(world: World) -> None:
    world.faults(failure_rate=1.0)
    [tid] = send(world, 1)
    settled(world, [tid], "FAILED")
    reasons = [h["reason"] for h in world.query(q.history, tid) if h["status"] == "FAILED"]
    assert reasons and "partner_refused (ISO NARR) from mobicash" in reasons[0], reasons


def test_a_slow_iso_partner_still_completes(world: World) -> None:
    world.faults(latency_ms=400)
    settled(world, send(world, 2), "COMPLETED")


def test_an_iso_partner_that_is_down_is_asked_with_pacs028_and_paid_once(world: World) -> None:
    take_down(world, world.receiver, 2)
    ids = send(world, 2)
    assert set(wait_status(world, ids, {"UNKNOWN"}, timeout=10).values()) == {"UNKNOWN"}
    settled(world, ids, "COMPLETED")  # pacs.028 -> RJCT NOTFOUND -> the same pacs.008 again
    assert "UNKNOWN" in history(world, ids[0])


def test_an_iso_partner_answering_500_is_asked_again(world: World) -> None:
    world.faults(error_rate=1.0)
    ids = send(world, 2)
    wait_status(world, ids, {"UNKNOWN"}, timeout=10)
    world.faults(error_rate=0.0)
    settled(world, ids, "COMPLETED")


def test_a_timeout_after_crediting_is_resolved_by_pacs028_without_paying_twice(
        world: World) -> None:
    world.faults(hang_after_credit=True, hang_seconds=3.0, callbacks=False)
    ids = send(world, 2)
    settled(world, ids, "COMPLETED")
    for tid in ids:
        assert history(world, tid)[-2:] == ["UNKNOWN", "COMPLETED"]
        assert credits(world, tid) == 1
    assert world.receiver_callbacks(ids[0]) == []  # known by pacs.028, not by callback


def test_duplicate_and_out_of_order_pacs002_are_harmless(world: World) -> None:
    world.faults(duplicate_callback=True, pending_after_final=True, callback_first=True)
    ids = send(world, 2)
    settled(world, ids, "COMPLETED")

    def all_acked() -> list[dict[str, Any]] | None:
        got = world.receiver_callbacks(ids[0])
        return got if len(got) == 3 and all(c["acknowledged"] for c in got) else None

    got = wait_for(all_acked, timeout=10, what="the three pacs.002 acknowledged")
    assert sorted(c["status"] for c in got) == ["PENDING", "SUCCESS", "SUCCESS"]
    assert history(world, ids[0]) == ["RECEIVED", "ACCEPTED", "SUBMITTED", "COMPLETED"]
    assert world.query(q.double_payouts) == []
    assert world.violations() == []


def _status_report(tid: str, status: str = "ACSC") -> bytes:
    return pacs002.build(status=status, transfer_id_=tid, original_message_id=message_id(tid),
                         original_message=pacs008.MESSAGE, partner_reference="MO-X")


BAD = [
    ("malformed", b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10'>",
     400, "malformed_xml", "FF01"),
    ("entity expansion", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
     b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><d>&b;</d>', 400, "xml_forbidden", "FF01"),
    ("external entity", b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM '
     b'"file:///etc/passwd">]><d>&x;</d>', 400, "xml_forbidden", "FF01"),
    ("schema-invalid", b"<Document xmlns='urn:iso:std:iso:20022:tech:xsd:pacs.002.001.10'>"
     b"<FIToFIPmtStsRpt><GrpHdr><MsgId>m</MsgId></GrpHdr></FIToFIPmtStsRpt></Document>",
     422, "schema_invalid", "CH16"),
    ("another message", pacs008.build(pacs008.CreditTransfer(
        "01a2d0e4-0000-7000-8000-000000000001", Money(100, "KES"), pacs008.Party("a"),
        pacs008.Party("b"), pacs008.Agent("h"), pacs008.Agent("p", bic="MOBIKENA"))),
     422, "wrong_message", "FF01"),
]


@pytest.mark.parametrize(("what", "body", "status", "code", "iso"), BAD,
                         ids=[b[0] for b in BAD])
def test_bad_pacs002_is_refused_with_a_rjct_and_audited(
        world: World, what: str, body: bytes, status: int, code: str, iso: str) -> None:
    before = len(audit_lines(world))
    got, raw = post_as(world, "mobicash", "/v1/iso20022/pacs.002", body)
    answer = report_of(raw)
    assert (got, answer.status, answer.reason) == (status, "RJCT", iso), answer
    assert answer.info and answer.info.startswith(code)
    new = audit_lines(world)[before:]
    assert [(x["reason"], x["partner"]) for x in new] == [(code, "mobicash")]
    assert world.violations() == []


def test_a_pacs002_for_another_partners_payout_changes_nothing(world: World) -> None:
    async def to_islapay() -> str:
        async with SendDriver(world.site, "payfast", destination="PH", timeout=10) as d:
            t = await d.create(await d.quote("500.00"))
            return t.id

    tid = asyncio.run(to_islapay())
    wait_status(world, [tid], {"UNKNOWN"}, timeout=10)  # IslaPay is not running here
    before = (history(world, tid), len(audit_lines(world)))
    got, raw = post_as(world, "mobicash", "/v1/iso20022/pacs.002", _status_report(tid))
    answer = report_of(raw)
    assert (got, answer.status, answer.reason) == (403, "RJCT", "AG01"), answer
    assert answer.info and answer.info.startswith("not_your_transfer")
    assert history(world, tid) == before[0]
    new = audit_lines(world)[before[1]:]
    assert [(x["reason"], x["transfer_id"]) for x in new] == [("not_your_transfer", tid)]
    assert world.violations() == []


def test_an_unsigned_or_forged_pacs002_is_refused(world: World) -> None:
    [tid] = send(world, 1)
    settled(world, [tid], "COMPLETED")
    got, raw = post_as(world, "mobicash", "/v1/iso20022/pacs.002",
                       _status_report(tid, "RJCT"), signed=False)
    assert (got, report_of(raw).reason) == (401, "AG01")
    assert history(world, tid)[-1] == "COMPLETED"
    assert world.query(q.reconciliation) == [] or all(
        f[1] != tid for f in world.query(q.reconciliation))


def bank_transfer(amount: Money = Money(100000, "INR"), msg: str | None = None,
                  sof: str | None = "salary") -> pacs008.CreditTransfer:
    """What PayFast's core banking system would send for a transfer to a Kenyan wallet."""
    tid = new_id()
    return pacs008.CreditTransfer(
        transfer_id=tid, amount=amount,
        debtor=pacs008.Party("Asha Rao", account="IN000111222333", country="IN",
                             address="12 MG Road, Bengaluru", id_type="passport",
                             id_number="P1234567"),
        creditor=pacs008.Party("Jane Wanjiru", account="254700000001", country="KE",
                               phone="+254700000001"),
        debtor_agent=pacs008.Agent("PayFast Remittances", bic="PAYFINBB"),
        creditor_agent=pacs008.Agent("MobiCash Kenya", bic="MOBIKENA"),
        payout_method="wallet", purpose="family support",
        reference=f"PF-ISO-{tid[-12:]}", receive_currency="KES", source_of_funds=sof)


def test_a_bank_sends_a_pacs008_and_hears_pacs002_until_completed(world: World) -> None:
    raw = pacs008.build(bank_transfer())
    got, answer_raw = post_as(world, "payfast", "/v1/iso20022/pacs.008", raw)
    answer = report_of(answer_raw)
    assert (got, answer.status) == (201, "ACSP"), answer
    tid = transfer_id(answer.partner_reference)
    assert tid is not None and answer.info == "ACCEPTED"
    settled(world, [tid], "COMPLETED")  # includes PayFast's pacs.002 sender callback
    told = [c for c in world.sender_callbacks(tid) if c["status"] == "COMPLETED"]
    assert told and told[0]["reference"] == pacs008.read(parse(raw, pacs008.MESSAGE)[1]) \
        .end_to_end_id
    # The same pacs.008 again: the same transfer, never a second one.
    again, again_raw = post_as(world, "payfast", "/v1/iso20022/pacs.008", raw)
    assert again == 201 and transfer_id(report_of(again_raw).partner_reference) == tid
    assert credits(world, tid) == 1
    # The transfer is the same as one made in JSON: the JSON API shows it.
    row = world.query(q.transfer, tid)
    assert (row.status, row.partner_id, row.receive_currency) == (
        "COMPLETED", "payfast", "KES")


@pytest.mark.parametrize(("what", "partner", "status", "code", "iso"), [
    ("too many decimals", "payfast", 422, "invalid_amount", "AM12"),
    ("no source of funds", "payfast", 422, "invalid_request", "CH16"),
    ("from a receive partner", "mobicash", 403, "role_not_allowed", "AG01"),
    ("from a send partner that chose JSON", "desertx", 403, "iso20022_not_enabled", "AG01"),
])
def test_a_bad_pacs008_is_refused_audited_and_creates_nothing(
        world: World, what: str, partner: str, status: int, code: str, iso: str) -> None:
    ct = bank_transfer(sof=None if what == "no source of funds" else "salary")
    raw = pacs008.build(ct)
    if what == "too many decimals":
        raw = raw.replace(b">1000.00<", b">1000.005<")
    before = (len(audit_lines(world)), world.query(lambda c: c.query(
        "SELECT COUNT(*) FROM transfers"))[0][0])
    got, answer_raw = post_as(world, partner, "/v1/iso20022/pacs.008", raw)
    answer = report_of(answer_raw)
    assert (got, answer.status, answer.reason) == (status, "RJCT", iso), answer
    assert answer.info and answer.info.startswith(code), answer.info
    new = audit_lines(world)[before[0]:]
    assert [(x["reason"], x["partner"]) for x in new] == [(code, partner)]
    assert world.query(lambda c: c.query("SELECT COUNT(*) FROM transfers"))[0][0] == before[1]
    assert world.violations() == []


def post_to_bank(world: World, path: str, body: bytes, key: str | None = "k-1",
                 signed: bool = True) -> tuple[int, bytes]:
    """POST to the ISO simulator as the hub does (hub client certificate, signed)."""
    from corridor.pki.layout import Layout
    from corridor.pki.tls import hub_client_to_partner

    sim = world.receiver
    assert sim is not None
    secret = PartnerIdentity.of(world.site, "mobicash", "receive").secret
    conn = http.client.HTTPSConnection(sim.host, sim.port, timeout=10,
                                       context=hub_client_to_partner(Layout(world.site.root)))
    headers = {"Content-Type": "application/xml"}
    if key:
        headers["Idempotency-Key"] = key
    if signed:
        headers[HEADER] = sign(secret, body, int(time.time()))
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_the_iso_simulator_refuses_what_a_bank_would(world: World) -> None:
    ct = pacs008.CreditTransfer(new_id(), Money(100000, "KES"), pacs008.Party("A B"),
                                pacs008.Party("C D", account="254700000001", country="KE"),
                                pacs008.Agent("hub"), pacs008.Agent("MobiCash", bic="MOBIKENA"),
                                payout_method="wallet")
    good = pacs008.build(ct)
    cases = [
        (HOSTILE_ENTITY, True, 400, "FF01"),
        (good.replace(b">1000.00<", b">1000.001<"), True, 422, "AM12"),
        (good, False, 401, "AG01"),
    ]
    for body, signed, status, iso in cases:
        got, raw = post_to_bank(world, "/iso20022/pacs.008", body, signed=signed)
        answer = report_of(raw)
        assert (got, answer.status, answer.reason) == (status, "RJCT", iso), answer
    assert all(c["payout_id"] != ct.transfer_id
               for c in world.wallet("254700000001")["credits"])
    # A status request about a payout it never had: RJCT NOTFOUND (the hub may resubmit).
    from corridor.iso20022 import pacs028

    got, raw = post_to_bank(world, "/iso20022/pacs.028", pacs028.build(ct.transfer_id),
                            key=None)
    answer = report_of(raw)
    assert (got, answer.status, answer.reason) == (200, "RJCT", "NOTFOUND")


HOSTILE_ENTITY = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                  b"<d>&x;</d>")


# -- returns (pacs.004) and recalls (camt.056) --------------------------------------------


def _one_row(world: World, sql: str, tid: str) -> tuple[Any, ...] | None:
    rows = world.query(lambda c: c.query(sql, (tid,)))
    return tuple(rows[0]) if rows else None


def _balances(world: World) -> dict[str, int]:
    return {a: int(p) for a, _, p, _ in world.query(q.balances)}


def _return(tid: str, ref: str, amount: Money, code: str = "AC04") -> bytes:
    from corridor.iso20022 import pacs004

    return pacs004.build(transfer_id_=tid, return_id=ref, amount=amount, reason=code,
                         info="beneficiary account closed")


def test_a_pacs004_return_reverses_the_payout_once(world: World) -> None:
    [tid] = send(world, 1)
    settled(world, [tid], "COMPLETED")
    row = world.query(q.transfer, tid)
    before = _balances(world)
    status, body = world.control(world.receiver, "POST", f"/sim/payouts/{tid}/return",
                                 {"reason": "beneficiary account closed"})
    assert status == 200, body
    assert wait_status(world, [tid], {"RETURNED"}) == {tid: "RETURNED"}
    got = _one_row(world, "SELECT return_reference, code, source, reason FROM returns "
                   "WHERE transfer_id = ?", tid)
    assert got is not None and got[:3] == (body["return_reference"], "AC04", "pacs.004")
    assert got[3].startswith("account_closed (ISO AC04) from mobicash")
    after = _balances(world)
    assert after["float:payfast:INR"] - before["float:payfast:INR"] == row.send_minor
    assert before["settlement:mobicash:KES"] - after["settlement:mobicash:KES"] == (
        row.receive_minor)
    # PayFast (a bank that chose ISO 20022) hears the return as a pacs.004.
    wait_for(lambda: any(c["status"] == "RETURNED" for c in world.sender_callbacks(tid)),
             timeout=15, what="PayFast's pacs.004")
    assert world.violations() == []

    amount = Money(row.receive_minor, row.receive_currency)
    # The same return again is a repeat; another is refused, flagged, never booked twice.
    got_status, raw = post_as(world, "mobicash", "/v1/iso20022/pacs.004",
                              _return(tid, body["return_reference"], amount))
    assert (got_status, report_of(raw).status) == (200, "ACTC")
    got_status, raw = post_as(world, "mobicash", "/v1/iso20022/pacs.004",
                              _return(tid, "MO-R-999999", amount))
    answer = report_of(raw)
    assert (got_status, answer.status, answer.reason) == (409, "RJCT", "AM05"), answer
    assert answer.info and answer.info.startswith("already_returned")
    assert world.query(lambda c: c.query(
        "SELECT kind FROM reconciliation WHERE transfer_id = ?", (tid,))) == [("second_return",)]
    assert _balances(world) == after
    assert world.violations() == []


def test_a_bad_pacs004_is_refused_and_books_nothing(world: World) -> None:
    world.faults(failure_rate=1.0)
    [failed] = send(world, 1)
    settled(world, [failed], "FAILED")
    world.faults(failure_rate=0.0)
    [done] = send(world, 1)
    settled(world, [done], "COMPLETED")
    row = world.query(q.transfer, done)
    before = _balances(world)
    cases = [
        # a return of a transfer that never completed: refused and flagged
        (failed, Money(row.receive_minor, "KES"), 409, "not_completed", "AG01"),
        # only the whole payout comes back
        (done, Money(row.receive_minor - 1, "KES"), 422, "return_amount", "AM09"),
    ]
    for tid, amount, status, code, iso in cases:
        got, raw = post_as(world, "mobicash", "/v1/iso20022/pacs.004",
                           _return(tid, f"MO-R-{tid[-6:]}", amount))
        answer = report_of(raw)
        assert (got, answer.status, answer.reason) == (status, "RJCT", iso), answer
        assert answer.info and answer.info.startswith(code)
    too_precise = _return(done, "MO-R-X", Money(row.receive_minor, "KES")).replace(
        f">{row.receive_minor // 100}.{row.receive_minor % 100:02d}<".encode(),
        f">{row.receive_minor // 100}.{row.receive_minor % 100:02d}1<".encode())
    got, raw = post_as(world, "mobicash", "/v1/iso20022/pacs.004", too_precise)
    assert (got, report_of(raw).reason) == (422, "AM12")
    assert history(world, done)[-1] == "COMPLETED" and history(world, failed)[-1] == "FAILED"
    assert _balances(world) == before
    assert world.violations() == []


def test_a_recall_goes_out_as_camt056_and_comes_back_as_pacs004(world: World) -> None:
    [tid] = send(world, 1)
    settled(world, [tid], "COMPLETED")

    async def recall() -> dict[str, Any]:
        async with SendDriver(world.site, "payfast", destination="KE", timeout=10) as d:
            return await d.recall(tid, "sent to the wrong wallet")

    assert asyncio.run(recall())["status"] == "REQUESTED"
    assert wait_status(world, [tid], {"RETURNED"}) == {tid: "RETURNED"}
    assert _one_row(world, "SELECT status FROM recalls WHERE transfer_id = ?", tid) == (
        "RETURNED",)
    assert _one_row(world, "SELECT code FROM returns WHERE transfer_id = ?", tid) == ("FOCR",)
    assert credits(world, tid) == 1  # credited once; the wallet gave it back once
    assert world.violations() == []


def test_a_refused_recall_leaves_the_transfer_completed(world: World) -> None:
    world.faults(refuse_recalls=True)
    [tid] = send(world, 1)
    settled(world, [tid], "COMPLETED")

    async def recall() -> dict[str, Any]:
        async with SendDriver(world.site, "payfast", destination="KE", timeout=10) as d:
            return await d.recall(tid, "sent to the wrong wallet")

    asyncio.run(recall())
    wait_for(lambda: _one_row(world, "SELECT status FROM recalls WHERE transfer_id = ?", tid)
             == ("REFUSED",), timeout=15, what="the recall refused")
    answer = _one_row(world, "SELECT answer FROM recalls WHERE transfer_id = ?", tid)
    assert answer and "(ISO NARR) from mobicash" in answer[0]
    assert history(world, tid)[-1] == "COMPLETED"
    assert world.violations() == []
