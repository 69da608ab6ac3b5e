"""`corridor sandbox`: each documented outcome produced on demand through EIG, TXN and the
simulators, as a partner's developers would ask for it; and the command itself starting,
answering and stopping cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corridor.sandbox import OUTCOMES, Sandbox
from corridor.sim.driver import SendDriver
from tests.support import REPO, wait_for

_n = iter(range(1, 10**6))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox") / "sandbox", free_ports=True) as sandbox:
        yield sandbox


def call(box: Sandbox, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    assert box.world is not None

    async def go() -> tuple[int, Any]:
        async with SendDriver(box.world.site, "payfast", timeout=15) as driver:
            return await driver.raw(method, path, body)
    return asyncio.run(go())


def send(box: Sandbox, account: str, name: str = "Mary Kamau",
         destination: str = "KE") -> tuple[int, Any]:
    """Quote 1,000.00 INR and create a transfer to `account` with the IN-KE KYC."""
    currency = {"KE": "KES", "PH": "PHP"}[destination]
    status, quote = call(box, "POST", "/v1/quotes", {
        "send_currency": "INR", "receive_currency": currency, "destination_country":
        destination, "payout_method": "wallet", "send_amount": "1000.00"})
    if status != 201:
        return status, quote
    n = next(_n)
    return call(box, "POST", "/v1/transfers", {
        "quote_id": quote["id"], "reference": f"SBX-{n}",
        "sender": {"name": f"Asha Rao{n}", "account": "AC-1", "address": "1 MG Road",
                   "id_number": f"P{n:07d}"},
        "beneficiary": {"name": name, "account": account, "phone": f"+{account}"},
        "purpose": "family support", "source_of_funds": "salary"})


def final(box: Sandbox, transfer_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status, body = call(box, "GET", f"/v1/transfers/{transfer_id}")
        assert status == 200, body
        return body if body["status"] in ("COMPLETED", "FAILED") else None
    return wait_for(done, timeout=30, interval=0.2, what=f"{transfer_id} final")


def test_a_demo_wallet_completes(box: Sandbox) -> None:
    status, t = send(box, "254700000001")
    assert (status, t["status"]) == (201, "ACCEPTED"), t
    assert final(box, t["id"])["status"] == "COMPLETED"


def test_the_frozen_wallet_fails(box: Sandbox) -> None:
    status, t = send(box, "254700999999")
    assert status == 201, t
    done = final(box, t["id"])
    assert done["status"] == "FAILED" and "frozen" in (done.get("reason") or "")


def test_a_sanctioned_name_is_held_for_compliance(box: Sandbox) -> None:
    status, t = send(box, "254700000002", name="Viktor Malenko")
    assert (status, t["status"]) == (201, "COMPLIANCE_HOLD"), t


def test_the_lost_answer_wallet_goes_unknown_then_completes_paid_once(box: Sandbox) -> None:
    status, t = send(box, "254700999001")
    assert status == 201, t
    done = final(box, t["id"])
    history = [h["status"] for h in done["history"]]
    assert done["status"] == "COMPLETED" and "UNKNOWN" in history, history
    assert history.index("UNKNOWN") < history.index("COMPLETED")
    assert box.world is not None
    credits = [c for c in box.world.wallet("254700999001")["credits"]
               if c["payout_id"] == t["id"]]
    assert len(credits) == 1


def test_the_philippines_rate_is_stale(box: Sandbox) -> None:
    status, problem = send(box, "639000000001", destination="PH")
    assert (status, problem["code"]) == (503, "rates_stale"), problem
    status, catalogue = call(box, "GET", "/v1/corridors")
    assert status == 200
    by = {(o["destination_country"], o["payout_method"]): o for o in catalogue["corridors"]}
    assert by[("PH", "wallet")]["unavailable_code"] == "rates_stale"
    assert by[("KE", "wallet")]["available"] is True
    assert by[("KE", "wallet")]["indicative_rate"]["source"] == "sandbox-treasury"


def test_the_returning_wallet_completes_then_comes_back(box: Sandbox) -> None:
    status, t = send(box, "254700999002")
    assert status == 201, t
    assert final(box, t["id"])["status"] == "COMPLETED"

    def returned() -> dict[str, Any] | None:
        status, body = call(box, "GET", f"/v1/transfers/{t['id']}")
        assert status == 200, body
        return body if body["status"] == "RETURNED" else None
    done = wait_for(returned, timeout=30, interval=0.2, what="the transfer returned")
    assert "account closed" in (done.get("reason") or ""), done


def test_an_analyst_asks_the_partner_about_a_held_transfer(box: Sandbox) -> None:
    status, t = send(box, "254700000003", name="Viktor Malenko")
    assert (status, t["status"]) == (201, "COMPLIANCE_HOLD"), t
    creds = box.credentials()
    asked = subprocess.run(
        [sys.executable, "-m", "corridor", "compliance", "request-info", t["id"],
         "--ask", "Source of these funds?", "--analyst", "sandbox", "--site", creds["site"],
         "--data", creds["data"]], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert asked.returncode == 0, asked.stderr

    def info_requested() -> dict[str, Any] | None:
        status, page = call(box, "GET", "/v1/events")
        assert status == 200, page
        return next((e["callback"] for e in page["events"]
                     if e["callback"].get("type") == "INFO_REQUESTED"
                     and e["callback"]["transfer"]["id"] == t["id"]), None)
    callback = wait_for(info_requested, timeout=30, interval=0.2, what="INFO_REQUESTED")
    assert callback["information_request"]["ask"] == "Source of these funds?"


def test_every_outcome_has_its_request() -> None:
    statuses = {o.status for o in OUTCOMES}
    assert {"COMPLETED", "FAILED", "COMPLIANCE_HOLD", "INFO_REQUESTED", "RETURNED",
            "503 rates_stale"} <= statuses
    assert all("to come" not in o.how for o in OUTCOMES)


def test_the_command_starts_answers_and_stops(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "corridor", "sandbox", "--data", str(tmp_path),
             "--free-ports"], cwd=REPO, stdout=sink, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_for(lambda: "Ctrl-C stops it" in out.read_text() or proc.poll() is not None,
                 timeout=60, what="the sandbox banner")
        text = out.read_text()
        assert proc.poll() is None, text
        assert "/v1/corridors" in text and "254700999001" in text and "INFO_REQUESTED" in text
        assert "compliance request-info" in text and "254700999002" in text
        keys = json.loads((tmp_path / "sandbox/site/secrets/demo-keys.json").read_text())
        assert keys["payfast"] in text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, out.read_text()
