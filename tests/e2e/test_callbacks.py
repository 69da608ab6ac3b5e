"""Receiver callbacks through EIG, as a receive partner sends them: signed, from its own
certificate, address and API key. A bad or stale signature, or a callback for a transfer
that was routed to another partner, is refused and changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from corridor.core import signature
from corridor.core.ids import new_id
from corridor.sim.identity import PartnerIdentity, loopback_source
from corridor.sim.world import World
from tests.e2e.journeys import history, send, settled, take_down
from tests.support import wait_for


def validate(world: World, body: dict[str, Any]) -> tuple[int, Any]:
    """POST /v1/accounts/validate on EIG as PayFast."""
    ident = PartnerIdentity.of(world.site, "payfast", "send")
    eig = world.site.hub.listen["eig"]

    async def go() -> tuple[int, Any]:
        connector = aiohttp.TCPConnector(ssl=ident.client_tls())
        async with aiohttp.ClientSession(connector=connector) as session, session.post(
                f"https://{eig.host}:{eig.port}/v1/accounts/validate", json=body, headers={
                    "Authorization": f"Bearer {ident.api_key()}",
                    "Idempotency-Key": new_id()}) as resp:
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(go())


def test_account_validation_asks_the_receive_partner(world: World) -> None:
    ask = {"account": "254700000001", "payout_method": "wallet", "receive_currency": "KES",
           "destination_country": "KE", "name": "John Kamau"}
    status, body = validate(world, ask)
    assert status == 200, body
    assert (body["valid"], body["holder_name"]) == (True, "JOHN KAMAU")
    assert body["name_match_score"] == 100
    status, body = validate(world, {**ask, "account": "254799999990"})
    assert (status, body["valid"]) == (200, False)
    take_down(world, world.receiver, 1.5)
    status, body = validate(world, ask)
    assert (status, body["code"]) == (503, "partner_unavailable")
    assert world.receiver is not None
    wait_for(world.receiver.healthy, timeout=10, what="MobiCash back")


def callback(world: World, partner_id: str, body: dict[str, Any], *,
             t: int | None = None, secret: bytes | None = None) -> tuple[int, Any]:
    """POST /v1/callbacks/receiver on EIG as `partner_id`."""
    ident = PartnerIdentity.of(world.site, partner_id, "receive")
    raw = json.dumps(body).encode()
    sig = signature.sign(secret or ident.secret, raw, t if t is not None else int(time.time()))
    eig = world.site.hub.listen["eig"]

    async def go() -> tuple[int, Any]:
        source = loopback_source(ident.partner)
        connector = aiohttp.TCPConnector(ssl=ident.client_tls(),
                                         local_addr=(source, 0) if source else None)
        async with aiohttp.ClientSession(connector=connector) as session, session.post(
                f"https://{eig.host}:{eig.port}/v1/callbacks/receiver", data=raw, headers={
                    "Authorization": f"Bearer {ident.api_key()}", "Idempotency-Key": new_id(),
                    "Content-Type": "application/json", signature.HEADER: sig}) as resp:
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(go())


def test_refused_callbacks_change_nothing(world: World) -> None:
    world.faults(callbacks=False, sync_outcome=False)
    [tid] = send(world, 1)
    success = {"transfer_id": tid, "status": "SUCCESS", "partner_reference": "X-1"}
    status, body = callback(world, "islapay", success)
    assert (status, body["code"]) == (403, "not_your_transfer")
    status, body = callback(world, "mobicash", success, t=int(time.time()) - 3600)
    assert (status, body["code"]) == (401, "bad_signature")
    status, body = callback(world, "mobicash", success, secret=b"not the secret")
    assert (status, body["code"]) == (401, "bad_signature")
    status, body = callback(world, "mobicash", {**success, "transfer_id": "nope"})
    assert (status, body["code"]) == (404, "transfer_not_found")
    assert history(world, tid)[-1] == "SUBMITTED"  # (the first status query is seconds away)
    # The partner's own, well signed callback completes it; a repeat is a harmless duplicate.
    status, body = callback(world, "mobicash", success)
    assert (status, body["status"]) == (200, "COMPLETED")
    status, body = callback(world, "mobicash", success)
    assert (status, body["status"], body["duplicate"]) == (200, "COMPLETED", True)
    settled(world, [tid], "COMPLETED")
