"""Returns and recalls end to end, over real HTTPS through EIG, with the MobiCash and
PayFast simulators, on SQLite and PostgreSQL: a completed payout given back (now, or later
by the simulator's knob), a recall honoured or refused, and the refusals (a second return,
a return for a transfer not completed, a recall of another partner's or an unfinished
transfer). The ledger verifies after each."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import aiohttp

from corridor.core.ids import new_id
from corridor.rpt import periods
from corridor.sim.identity import PartnerIdentity, loopback_source
from corridor.sim.world import World
from corridor.store import reads as q
from tests.e2e.journeys import history, send, sender_told, wait_status
from tests.e2e.test_callbacks import callback
from tests.support import REPO, wait_for


def post_as(world: World, partner_id: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a partner call to EIG as `partner_id` (its certificate, address and key)."""
    ident = PartnerIdentity.of(world.site, partner_id, "send")
    eig = world.site.hub.listen["eig"]

    async def go() -> tuple[int, Any]:
        source = loopback_source(ident.partner)
        connector = aiohttp.TCPConnector(ssl=ident.client_tls(),
                                         local_addr=(source, 0) if source else None)
        async with aiohttp.ClientSession(connector=connector) as session, session.post(
                f"https://{eig.host}:{eig.port}{path}", json=body, headers={
                    "Authorization": f"Bearer {ident.api_key()}",
                    "Idempotency-Key": new_id()}) as resp:
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(go())


def balances(world: World) -> dict[str, int]:
    return {a: int(p) for a, _, p, _ in world.query(q.balances)}


def completed(world: World) -> str:
    [tid] = send(world, 1)
    assert wait_status(world, [tid]) == {tid: "COMPLETED"}
    return tid


def told(world: World, tid: str, **fields: Any) -> dict[str, Any]:
    """Wait for the sender callback of `tid` that has `fields` (status, recall, ...)."""
    def found() -> dict[str, Any] | None:
        for c in world.sender_callbacks(tid):
            if all(c.get(k) == v for k, v in fields.items()):
                return c
        return None

    return wait_for(found, timeout=15, interval=0.1, what=f"sender callback {fields} for {tid}")


def flags(world: World, tid: str) -> list[str]:
    return [r[0] for r in world.query(lambda c: c.query(
        "SELECT kind FROM reconciliation WHERE transfer_id = ? ORDER BY kind", (tid,)))]


def test_a_returned_payout_is_reversed_once_and_the_sender_hears_it(world: World) -> None:
    tid = completed(world)
    row = world.query(q.transfer, tid)
    before = balances(world)
    account = json.loads(row.beneficiary)["account"]
    wallet = int(world.wallet(account)["balance"].replace(".", ""))
    status, body = world.control(world.receiver, "POST", f"/sim/payouts/{tid}/return",
                                 {"reason": "beneficiary account closed"})
    assert status == 200, body
    assert wait_status(world, [tid], {"RETURNED"}) == {tid: "RETURNED"}
    assert history(world, tid)[-2:] == ["COMPLETED", "RETURNED"]
    got = told(world, tid, status="RETURNED")
    assert got["reason"] == "beneficiary account closed"
    after = balances(world)
    fee = row.fee_minor
    assert after["float:payfast:INR"] - before["float:payfast:INR"] == row.send_minor
    assert before["settlement:mobicash:KES"] - after["settlement:mobicash:KES"] == (
        row.receive_minor)
    assert after["revenue:fee:INR"] == before["revenue:fee:INR"]  # the fee is kept
    assert before["revenue:fx:INR"] - after["revenue:fx:INR"] == row.fx_margin_minor
    assert fee > 0
    assert int(world.wallet(account)["balance"].replace(".", "")) == wallet - row.receive_minor
    assert world.violations() == []

    # The same return again (as a retried callback would bring it) is a harmless repeat;
    # another return for it is refused, flagged, and books nothing.
    ref = world.query(lambda c: c.query(
        "SELECT return_reference FROM returns WHERE transfer_id = ?", (tid,)))[0][0]
    again = {"transfer_id": tid, "status": "RETURNED", "reason": "beneficiary account closed",
             "return_reference": ref}
    status, body = callback(world, "mobicash", again)
    assert (status, body["duplicate"], body["status"]) == (200, True, "RETURNED"), body
    status, body = callback(world, "mobicash", {**again, "return_reference": "MC-R-999999"})
    assert (status, body["code"]) == (409, "already_returned"), body
    assert flags(world, tid) == ["second_return"]
    # A FAILURE for it now contradicts what MobiCash said before: flagged for a person,
    # acknowledged, nothing booked, the transfer stays RETURNED.
    status, body = callback(world, "mobicash", {"transfer_id": tid, "status": "FAILURE",
                                                "reason": "beneficiary account closed"})
    assert (status, body["status"]) == (200, "RETURNED"), body
    assert flags(world, tid) == ["failure_after_return", "second_return"]
    assert balances(world) == after
    assert world.violations() == []


def test_a_return_for_a_transfer_not_completed_is_refused_and_flagged(world: World) -> None:
    world.faults(failure_rate=1.0)
    [tid] = send(world, 1)
    assert wait_status(world, [tid]) == {tid: "FAILED"}
    status, body = callback(world, "islapay", {
        "transfer_id": tid, "status": "RETURNED", "reason": "closed"})
    assert (status, body["code"]) == (403, "not_your_transfer")
    before = balances(world)
    status, body = callback(world, "mobicash", {
        "transfer_id": tid, "status": "RETURNED", "reason": "closed",
        "return_reference": "MC-R-1"})
    assert (status, body["code"], body["state"]) == (409, "not_completed", "FAILED"), body
    assert flags(world, tid) == ["return_not_completed"]
    status, body = callback(world, "mobicash", {"transfer_id": tid, "status": "RETURNED"})
    assert (status, body["code"]) == (422, "reason_required")
    assert balances(world) == before
    assert world.query(q.transfer, tid).status == "FAILED"
    assert world.violations() == []


def test_the_simulator_gives_a_payout_back_later(world: World) -> None:
    world.faults(return_after_ms=300)
    [tid] = send(world, 1)
    assert wait_status(world, [tid], {"RETURNED"}) == {tid: "RETURNED"}
    assert history(world, tid)[-2:] == ["COMPLETED", "RETURNED"]
    sender_told(world, tid, "COMPLETED")
    sender_told(world, tid, "RETURNED")
    assert world.violations() == []


def test_a_recall_comes_back_as_a_return(world: World) -> None:
    tid = completed(world)
    status, body = post_as(world, "payfast", f"/v1/transfers/{tid}/recall",
                           {"reason": "sent to the wrong wallet"})
    assert (status, body["status"], body["transfer_id"]) == (202, "REQUESTED", tid), body
    assert wait_status(world, [tid], {"RETURNED"}) == {tid: "RETURNED"}
    got = told(world, tid, status="RETURNED")
    assert got["recall"] == "RETURNED"
    row = world.query(q.transfer, tid)
    assert (row.code, row.reason) == ("recalled", "recalled: sent to the wrong wallet")
    status, body = post_as(world, "payfast", f"/v1/transfers/{tid}/recall", {"reason": "x"})
    assert (status, body["code"]) == (409, "already_returned")
    assert world.violations() == []


def test_a_refused_recall_leaves_the_transfer_completed(world: World) -> None:
    world.faults(refuse_recalls=True)
    tid = completed(world)
    before = balances(world)
    status, body = post_as(world, "payfast", f"/v1/transfers/{tid}/recall",
                           {"reason": "fraud suspected"})
    assert status == 202, body
    got = told(world, tid, recall="REFUSED")
    assert got["status"] == "COMPLETED"
    assert world.query(q.transfer, tid).status == "COMPLETED"
    assert balances(world) == before
    status, body = post_as(world, "payfast", f"/v1/transfers/{tid}/recall", {"reason": "x"})
    assert (status, body["code"], body["recall_status"]) == (409, "already_recalled",
                                                             "REFUSED")
    assert world.violations() == []


def test_bad_recalls_get_a_clear_code(world: World) -> None:
    tid = completed(world)
    status, body = post_as(world, "desertx", f"/v1/transfers/{tid}/recall", {"reason": "x"})
    assert (status, body["code"]) == (404, "transfer_not_found"), body
    status, body = post_as(world, "payfast", f"/v1/transfers/{tid}/recall", {})
    assert (status, body["code"]) == (422, "invalid_request"), body
    status, body = post_as(world, "payfast", "/v1/transfers/nope/recall", {"reason": "x"})
    assert (status, body["code"]) == (404, "transfer_not_found"), body
    world.faults(failure_rate=1.0)
    [failed] = send(world, 1)
    assert wait_status(world, [failed]) == {failed: "FAILED"}
    status, body = post_as(world, "payfast", f"/v1/transfers/{failed}/recall",
                           {"reason": "x"})
    assert (status, body["code"], body["state"]) == (409, "not_completed", "FAILED"), body
    assert world.violations() == []


def get_as(world: World, partner_id: str, path: str) -> tuple[int, Any]:
    """GET a partner call on EIG as `partner_id`."""
    ident = PartnerIdentity.of(world.site, partner_id, "any")
    eig = world.site.hub.listen["eig"]

    async def go() -> tuple[int, Any]:
        source = loopback_source(ident.partner)
        connector = aiohttp.TCPConnector(ssl=ident.client_tls(),
                                         local_addr=(source, 0) if source else None)
        async with aiohttp.ClientSession(connector=connector) as session, session.get(
                f"https://{eig.host}:{eig.port}{path}",
                headers={"Authorization": f"Bearer {ident.api_key()}"}) as resp:
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(go())


def test_rpt_reports_and_settles_the_returns(world: World) -> None:
    """Last in the module: RPT follows the feed of every transfer above; its reports show
    the returns, its settlement nets them, and it still matches TXN's ledger."""
    tid = completed(world)
    world.control(world.receiver, "POST", f"/sim/payouts/{tid}/return", {"reason": "closed"})
    assert wait_status(world, [tid], {"RETURNED"}) == {tid: "RETURNED"}
    assert world.stack is not None
    rpt = world.stack.start_rpt()
    assert rpt is not None
    rpt.wait_ready(30)
    site = world.site
    today = periods.business_day_of(datetime.now(UTC), site.hub.settlement_cutoff)

    returned = world.query(lambda c: c.query(
        "SELECT send_minor, receive_minor FROM transfers WHERE status = 'RETURNED'"))
    assert len(returned) >= 2

    def caught_up() -> dict[str, Any] | None:
        status, body = get_as(world, "payfast", f"/v1/reports/transactions?from={today}"
                              f"&to={today}")
        if status != 200:
            return None
        rows = [r for r in body["transfers"] if r["status"] == "RETURNED"]
        return body if len(rows) == len(returned) else None

    report = wait_for(caught_up, timeout=30, interval=0.3, what="RPT to see the returns")
    row = next(r for r in report["transfers"] if r["transfer_id"] == tid)
    assert (row["code"], row["reason"]) == ("payout_returned", "closed")
    assert row["returned_at"] and row["completed_at"]

    status, st = get_as(world, "payfast", f"/v1/reports/settlement?date={today}")
    assert status == 200, st
    (sent,) = st["sent"]
    assert sent["returned"] == len(returned)
    credited = sum(send for send, _ in returned)  # the fee is kept (core.returns)
    assert int(sent["float_credited"].replace(".", "")) == credited
    (position,) = st["positions"]
    assert int(position["float_debited"].replace(".", "")) == (
        int(sent["float_debited"].replace(".", "")) - credited)
    status, st = get_as(world, "mobicash", f"/v1/reports/settlement?date={today}")
    assert status == 200, st
    (received,) = st["received"]
    assert received["returned"] == len(returned)
    assert int(received["taken_back"].replace(".", "")) == sum(r for _, r in returned)
    (position,) = st["positions"]
    assert int(position["owed_for_payouts"].replace(".", "")) == (
        int(received["paid_out"].replace(".", "")) - sum(r for _, r in returned))

    verify = subprocess.run(
        [sys.executable, "-m", "corridor", "rpt", "verify", "--date", today.isoformat(),
         "--site", str(world.site_dir), "--data", str(world.data_dir)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert world.violations() == []
