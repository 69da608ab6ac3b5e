"""Each fault knob of the receive-partner simulator does what the hub's tests rely on:
slow, failing, answering 500, hanging after crediting, down, duplicate, early and
contradicting callbacks. Knobs are switched at runtime through PATCH /sim/faults."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from corridor.core.ids import new_id
from tests.sim.rig import KNOWN, Rig, payout, wallet
from tests.support import wait_for


def set_faults(rig: Rig, **knobs: object) -> dict:
    answer = rig.call("PATCH", "/sim/faults", knobs, sign=False)
    assert answer.status == 200, answer.body
    return answer.body


def test_fault_settings_are_checked_all_or_nothing(rig: Rig) -> None:
    before = rig.call("GET", "/sim/faults", sign=False).body
    for bad in ({"failure_rate": 2}, {"latency_ms": -1}, {"hang_after_credit": "yes"},
                {"latency_ms": 5, "no_such_knob": True}):
        answer = rig.call("PATCH", "/sim/faults", bad, sign=False)
        assert answer.status == 422 and answer.body["code"] == "invalid_fault"
    assert rig.call("GET", "/sim/faults", sign=False).body == before


def test_slow_partner_makes_the_hub_time_out_and_credits_nothing(rig: Rig) -> None:
    set_faults(rig, latency_ms=1500)
    with pytest.raises(asyncio.TimeoutError):
        rig.call("POST", "/v1/payouts", payout(), key=new_id(), timeout=0.3)
    set_faults(rig, latency_ms=150)
    started = time.monotonic()
    assert rig.call("POST", "/v1/payouts", payout(), key=new_id()).status == 201
    assert time.monotonic() - started >= 0.15
    # Only the second payout got through: the first was abandoned before processing.
    wait_for(lambda: len(wallet(rig)["credits"]) == 1, what="one credit")


def test_failure_rate_fails_payouts_without_crediting(rig: Rig) -> None:
    set_faults(rig, failure_rate=1.0)
    body = payout()
    assert rig.call("POST", "/v1/payouts", body, key=new_id()).body["status"] == "PENDING"
    assert rig.call("GET", f"/v1/payouts/{body['payout_id']}").body["status"] == "FAILURE"
    wait_for(lambda: rig.eig.for_transfer(body["payout_id"]), what="callback")
    assert rig.eig.for_transfer(body["payout_id"])[0]["status"] == "FAILURE"
    assert wallet(rig)["balance"] == "0.00"


def test_answering_500_does_nothing_until_switched_off(rig: Rig) -> None:
    set_faults(rig, error_rate=1.0)
    body, key = payout(), new_id()
    assert rig.call("POST", "/v1/payouts", body, key=key).status == 500
    assert rig.call("GET", f"/v1/payouts/{body['payout_id']}").status == 500
    assert wallet(rig)["balance"] == "0.00" and rig.eig.accepted == []
    set_faults(rig, error_rate=0.0)
    assert rig.call("POST", "/v1/payouts", body, key=key).status == 201
    assert wallet(rig)["balance"] == "1518.08"


def test_hang_after_credit_credits_but_never_answers(rig: Rig) -> None:
    set_faults(rig, hang_after_credit=True)
    body, key = payout(), new_id()
    with pytest.raises(asyncio.TimeoutError):
        rig.call("POST", "/v1/payouts", body, key=key, timeout=0.5)
    assert wallet(rig)["balance"] == "1518.08"  # the money moved
    # The hub asks for status and learns the outcome; its callback went out too.
    assert rig.call("GET", f"/v1/payouts/{body['payout_id']}").body["status"] == "SUCCESS"
    wait_for(lambda: rig.eig.for_transfer(body["payout_id"]), what="callback")
    set_faults(rig, hang_after_credit=False)
    again = rig.call("POST", "/v1/payouts", body, key=key)  # the hub's retry
    assert again.status == 200 and len(wallet(rig)["credits"]) == 1


def test_duplicate_callbacks_are_two_deliveries_of_one_outcome(rig: Rig) -> None:
    set_faults(rig, duplicate_callback=True)
    body = payout()
    rig.call("POST", "/v1/payouts", body, key=new_id())
    wait_for(lambda: len(rig.eig.for_transfer(body["payout_id"])) == 2, what="two callbacks")
    first, second = rig.eig.for_transfer(body["payout_id"])
    assert first["status"] == second["status"] == "SUCCESS"
    assert first["idempotency_key"] != second["idempotency_key"]
    assert len(wallet(rig)["credits"]) == 1


def test_callback_first_reaches_the_hub_before_the_submit_answer(rig: Rig) -> None:
    rig.eig.ack_delay = 0.3  # the hub takes its time acknowledging the callback
    body = payout()
    rig.call("POST", "/v1/payouts", body, key=new_id())
    assert rig.eig.for_transfer(body["payout_id"]) == []  # normally the answer comes first
    set_faults(rig, callback_first=True)
    body = payout()
    answer = rig.call("POST", "/v1/payouts", body, key=new_id())
    assert answer.status == 201
    assert [c["status"] for c in rig.eig.for_transfer(body["payout_id"])] == ["SUCCESS"]


def test_success_after_failure_contradicts_in_that_order(rig: Rig) -> None:
    set_faults(rig, failure_rate=1.0, success_after_failure=True)
    body = payout()
    rig.call("POST", "/v1/payouts", body, key=new_id())
    wait_for(lambda: len(rig.eig.for_transfer(body["payout_id"])) == 2, what="two callbacks")
    assert [c["status"] for c in rig.eig.for_transfer(body["payout_id"])] == [
        "FAILURE", "SUCCESS"]
    assert wallet(rig)["balance"] == "0.00"  # the contradiction is only words


def test_no_callbacks_and_sync_outcome(rig: Rig) -> None:
    set_faults(rig, callbacks=False, sync_outcome=True)
    body = payout()
    answer = rig.call("POST", "/v1/payouts", body, key=new_id())
    assert answer.body["status"] == "SUCCESS"
    frozen = payout(account="254799000000")
    failed = rig.call("POST", "/v1/payouts", frozen, key=new_id())
    assert failed.body["status"] == "FAILURE" and failed.body["reason"]
    assert rig.call("GET", "/sim/callbacks", sign=False).body == []


def test_down_closes_the_listener_and_comes_back(rig: Rig) -> None:
    answer = rig.call("POST", "/sim/down", {"seconds": 0.6}, sign=False)
    assert answer.status == 202

    def refused() -> bool:
        try:
            rig.call("GET", "/sim/health", sign=False, timeout=1)
        except (aiohttp.ClientConnectionError, ConnectionError):
            return True
        return False

    wait_for(refused, timeout=3, what="listener closed")
    wait_for(lambda: not refused(), timeout=5, what="listener back")
    assert rig.call("POST", "/v1/payouts", payout(), key=new_id()).status == 201
    assert wallet(rig, KNOWN)["balance"] == "1518.08"
