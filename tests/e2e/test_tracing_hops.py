"""A partner's W3C `traceparent` reaches every hop it passes: EIG's span and TXN's span of
the call are in the partner's trace, whether the call went to TXN alone or in a batch."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from corridor.core.ids import new_id
from corridor.sim.identity import PartnerIdentity
from corridor.sim.world import World
from corridor.tracing import spans_path
from tests.support import wait_for

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def quote(world: World, trace_id: str) -> int:
    """POST /v1/quotes on EIG as PayFast, in the trace `trace_id`."""
    ident = PartnerIdentity.of(world.site, "payfast", "send")
    eig = world.site.hub.listen["eig"]
    body = {"send_amount": "1000.00", "send_currency": "INR", "receive_currency": "KES",
            "destination_country": "KE", "payout_method": "wallet"}

    async def go() -> int:
        connector = aiohttp.TCPConnector(ssl=ident.client_tls())
        async with aiohttp.ClientSession(connector=connector) as session, session.post(
                f"https://{eig.host}:{eig.port}/v1/quotes", json=body, headers={
                    "Authorization": f"Bearer {ident.api_key()}",
                    "Idempotency-Key": new_id(),
                    "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}) as resp:
            await resp.read()
            return resp.status

    return asyncio.run(go())


def spans(path: Path, trace_id: str) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    found = [json.loads(line) for line in path.read_text().splitlines()]
    return [s for s in found if s["context"]["trace_id"] == f"0x{trace_id}"]


def test_the_partners_trace_runs_through_eig_and_txn(world: World) -> None:
    assert quote(world, TRACE) == 201
    # The spans are exported in batches, a few seconds after they end.
    eig = wait_for(lambda: spans(spans_path(world.data_dir, "eig"), TRACE), timeout=30,
                   what="EIG's span of the quote")
    txn = wait_for(lambda: spans(spans_path(world.data_dir, "txn"), TRACE), timeout=30,
                   what="TXN's span of the quote")
    [at_eig], [at_txn] = eig, txn
    assert at_eig["parent_id"] == "0x00f067aa0ba902b7"
    assert at_eig["attributes"]["corridor.partner"] == "payfast"
    assert at_eig["attributes"]["http.response.status_code"] == 201
    assert at_txn["parent_id"] == at_eig["context"]["span_id"]
