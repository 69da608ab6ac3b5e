"""The receive-partner simulator's returns and recalls, as the hub sees them over HTTPS: a
recall honoured once (the wallet debited, a signed RETURNED callback) or refused, a payout
given back on the control API, and what cannot be given back."""

from __future__ import annotations

from corridor.core.ids import new_id
from tests.sim.rig import Rig, payout, wallet
from tests.support import wait_for


def credited(rig: Rig) -> str:
    body = payout()
    assert rig.call("POST", "/v1/payouts", body, key=new_id()).status == 201
    return str(body["payout_id"])


def returned(rig: Rig, pid: str) -> list[dict]:
    return [c for c in rig.eig.for_transfer(pid) if c["status"] == "RETURNED"]


def test_a_recall_takes_the_payout_back_once_and_says_so(rig: Rig) -> None:
    pid = credited(rig)
    assert wallet(rig)["balance"] == "1518.08"
    ask, key = {"payout_id": pid, "reason": "wrong wallet"}, f"{pid}/recall"
    answer = rig.call("POST", f"/v1/payouts/{pid}/recall", ask, key=key)
    assert (answer.status, answer.body) == (200, {"payout_id": pid, "status": "ACCEPTED"})
    wait_for(lambda: returned(rig, pid), what="RETURNED callback")
    [callback] = returned(rig, pid)
    assert callback["reason"] == "recalled: wrong wallet"
    assert callback["return_reference"].startswith("MO-R-")
    assert wallet(rig)["balance"] == "0.00"
    again = rig.call("POST", f"/v1/payouts/{pid}/recall", ask, key=key)
    assert again.body["status"] == "ACCEPTED" and wallet(rig)["balance"] == "0.00"
    unsigned = rig.call("POST", f"/v1/payouts/{pid}/recall", ask, key=key, sign=False)
    assert unsigned.status == 401
    unknown = rig.call("POST", "/v1/payouts/nope/recall", {"payout_id": "nope", "reason": "x"},
                       key="nope/recall")
    assert (unknown.status, unknown.body["code"]) == (404, "payout_not_found")


def test_recalls_are_refused_when_told_and_nothing_moves(rig: Rig) -> None:
    pid = credited(rig)
    rig.sim.faults.update({"refuse_recalls": True})
    answer = rig.call("POST", f"/v1/payouts/{pid}/recall",
                      {"payout_id": pid, "reason": "fraud"}, key=f"{pid}/recall")
    assert answer.body["status"] == "REFUSED" and answer.body["reason"]
    assert wallet(rig)["balance"] == "1518.08" and not returned(rig, pid)


def test_the_control_api_gives_a_payout_back_once(rig: Rig) -> None:
    pid = credited(rig)
    got = rig.call("POST", f"/sim/payouts/{pid}/return", {"reason": "account closed"},
                   sign=False)
    assert got.status == 200 and got.body["return_reference"].startswith("MO-R-")
    wait_for(lambda: returned(rig, pid), what="RETURNED callback")
    assert returned(rig, pid)[0]["reason"] == "account closed"
    record = rig.call("GET", f"/sim/payouts/{pid}", sign=False).body
    assert record["return_reference"] == got.body["return_reference"]
    frozen = payout(account="254700999999")
    rig.call("POST", "/v1/payouts", frozen, key=new_id())
    never = rig.call("POST", f"/sim/payouts/{frozen['payout_id']}/return", {}, sign=False)
    assert (never.status, never.body["code"]) == (409, "cannot_return")
