"""The send-partner side: its callback server verifies the hub's signatures, refuses
forgeries, records what it accepts and can be down; the driver creates transfers through
EIG with the partner's certificate and API key and waits for their sender callbacks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from corridor.core import signature
from corridor.core.ids import new_id
from corridor.pki.layout import Layout
from corridor.sim.driver import SendDriver
from corridor.sim.inbox import CallbackInbox
from corridor.site import Site
from tests.sim.rig import HubClient, LoopThread
from tests.sim.standin_eig import StandInGateway
from tests.support import free_port, wait_for


@pytest.fixture
def inbox(pki_site: tuple[Site, dict[str, str]], loop: LoopThread,
          tmp_path: Path) -> Iterator[CallbackInbox]:
    site, _ = pki_site
    box = CallbackInbox(site, "payfast", listen=("127.0.0.1", free_port()),
                        journal=tmp_path / "callbacks.jsonl")
    loop.run(box.start())
    yield box
    loop.run(box.stop())


def event(status: str = "COMPLETED", transfer_id: str | None = None) -> dict:
    return {"event_id": new_id(), "transfer": {
        "id": transfer_id or new_id(), "reference": "PF-1", "status": status,
        "quote_id": new_id(), "send_amount": "1000.00", "send_currency": "INR",
        "receive_amount": "1518.08", "receive_currency": "KES", "fee": "55.00",
        "rate": "1.5181", "destination_country": "KE", "payout_method": "wallet",
        "beneficiary_name": "John Kamau", "beneficiary_account": "254700000001",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:01Z"}}


def hub(inbox: CallbackInbox, loop: LoopThread, site: Site) -> HubClient:
    return HubClient(site, f"https://127.0.0.1:{inbox.listener.port}", "payfast")


def test_send_partner_gets_a_server_certificate_from_the_partner_ca(
        inbox: CallbackInbox, pki_site: tuple[Site, dict[str, str]]) -> None:
    site, _ = pki_site
    cert, key = Layout(site.root).partner_server("payfast")
    assert cert.exists() and (key.stat().st_mode & 0o777) == 0o600


def test_signed_callback_is_accepted_recorded_and_wakes_waiters(
        inbox: CallbackInbox, loop: LoopThread, pki_site: tuple[Site, dict[str, str]],
        tmp_path: Path) -> None:
    client = hub(inbox, loop, pki_site[0])
    body = event()
    tid = body["transfer"]["id"]
    answer = loop.run(client.call("POST", inbox.path, body))
    assert answer.status == 200 and answer.body == {"received": True, "duplicate": False}
    got = loop.run(inbox.wait_final(tid, timeout=2))
    assert got.status == "COMPLETED"
    again = loop.run(client.call("POST", inbox.path, body))
    assert again.body["duplicate"] is True
    lines = (tmp_path / "callbacks.jsonl").read_text().splitlines()
    assert [json.loads(line)["transfer_id"] for line in lines] == [tid, tid]
    log = loop.run(client.call("GET", f"/sim/callbacks?transfer_id={tid}", sign=False))
    assert len(log.body) == 2
    loop.run(client.close())


def test_forged_stale_or_missing_signatures_are_refused(
        inbox: CallbackInbox, loop: LoopThread, pki_site: tuple[Site, dict[str, str]]) -> None:
    client = hub(inbox, loop, pki_site[0])
    forged = loop.run(client.call("POST", inbox.path, event(), secret=b"guess"))
    unsigned = loop.run(client.call("POST", inbox.path, event(), sign=False))
    assert forged.status == unsigned.status == 401
    assert forged.body["code"] == "bad_signature"
    data = json.dumps(event()).encode()
    stale = signature.sign(client.secret, data, int(time.time()) - 3600)

    async def replay() -> int:
        assert client.session is not None
        async with client.session.post(client.base + inbox.path, data=data,
                                       headers={signature.HEADER: stale}) as resp:
            return resp.status

    assert loop.run(replay()) == 401
    assert inbox.received == [] and inbox.refused == 3
    loop.run(client.close())


def test_down_answers_503_or_closes_then_recovers(
        inbox: CallbackInbox, loop: LoopThread, pki_site: tuple[Site, dict[str, str]]) -> None:
    client = hub(inbox, loop, pki_site[0])
    assert loop.run(client.call("POST", "/sim/down", {"seconds": 0.5, "mode": "503"},
                                sign=False)).status == 202
    wait_for(lambda: loop.run(client.call("POST", inbox.path, event())).status == 503,
             what="503")
    wait_for(lambda: loop.run(client.call("POST", inbox.path, event())).status == 200,
             what="back after 503")
    assert loop.run(client.call("POST", "/sim/down", {"seconds": 0.5},
                                sign=False)).status == 202

    def closed() -> bool:
        try:
            loop.run(client.call("POST", inbox.path, event(), timeout=1))
        except (aiohttp.ClientConnectionError, ConnectionError):
            return True
        return False

    wait_for(closed, timeout=3, what="listener closed")
    wait_for(lambda: not closed(), timeout=5, what="listener back")
    loop.run(client.close())


def test_control_api_needs_a_hub_certificate(
        inbox: CallbackInbox, loop: LoopThread, pki_site: tuple[Site, dict[str, str]]) -> None:
    site = pki_site[0]
    ca = Layout(site.root).partner_ca[0]

    async def anonymous() -> int:
        import ssl

        ctx = ssl.create_default_context(cafile=str(ca))
        async with aiohttp.ClientSession() as session, session.post(
                f"https://127.0.0.1:{inbox.listener.port}/sim/down", json={"seconds": 5},
                ssl=ctx) as resp:
            return resp.status

    assert loop.run(anonymous()) == 403
    assert inbox.listener.up


def test_driver_sends_transfers_and_waits_for_their_callbacks(
        inbox: CallbackInbox, loop: LoopThread, pki_site: tuple[Site, dict[str, str]]) -> None:
    site, keys = pki_site
    gateway = StandInGateway(site, keys["payfast"], inbox.url)
    eig_url = loop.run(gateway.start())

    async def drive() -> dict:
        async with SendDriver(site, "payfast", eig_url=eig_url, api_key=keys["payfast"],
                              inbox=inbox, timeout=5, seed=1, destination="KE") as driver:
            return (await driver.run(6, concurrency=3, amount="1000.00")).as_dict()

    summary = loop.run(drive())
    loop.run(gateway.stop())
    assert summary["statuses"] == {"COMPLETED": 6} and summary["errors"] == {}
    assert summary["confirmed_by_callback"] == 6
    sent = gateway.transfers
    assert len({t["reference"] for t in sent}) == 6
    for t in sent:  # the KYC the IN-KE corridor needs, a wallet MobiCash knows
        assert {"name", "account", "address", "id_type", "id_number"} <= set(t["sender"])
        assert t["beneficiary"]["account"].startswith("2547") and t["beneficiary"]["phone"]


def test_driver_reports_a_refused_api_key(
        inbox: CallbackInbox, loop: LoopThread, pki_site: tuple[Site, dict[str, str]]) -> None:
    site, keys = pki_site
    gateway = StandInGateway(site, keys["payfast"], inbox.url)
    eig_url = loop.run(gateway.start())

    async def drive() -> dict:
        async with SendDriver(site, "payfast", eig_url=eig_url, api_key="cor_wrong",
                              inbox=inbox, timeout=5) as driver:
            return (await driver.run(2)).as_dict()

    summary = loop.run(drive())
    loop.run(gateway.stop())
    assert summary["errors"] == {"quote": 2} and summary["finished"] == 0
