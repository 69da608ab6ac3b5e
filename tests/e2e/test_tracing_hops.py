"""A partner's W3C `traceparent` reaches every hop of its transfer: EIG and TXN on the
creation, TXN's payout and each call of it to MobiCash, MobiCash's receiver callback
(which carries the trace on) through EIG and TXN, and TXN's sender callback to PayFast;
each hop's span is the child of the one before. An unsampled trace is passed on hop by hop
and recorded nowhere."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from corridor.sim.driver import SendDriver
from corridor.sim.world import World
from corridor.tracing import spans_path
from tests.e2e.journeys import sender_told
from tests.support import wait_for


def send_traced(world: World, sampled: bool) -> tuple[str, str]:
    """One transfer as PayFast, its calls in a trace of PayFast's: (trace id, transfer)."""
    async def go() -> tuple[str, str]:
        async with SendDriver(world.site, "payfast", destination="KE", timeout=10) as driver:
            trace_id = driver.new_trace(sampled)
            transfer = await driver.create(await driver.quote("1000.00"))
            assert transfer.status == "ACCEPTED", transfer
            return trace_id, transfer.id

    return asyncio.run(go())


def spans(data: Path, trace_id: str) -> list[dict[str, Any]]:
    found = []
    for server in ("eig", "txn"):
        path = spans_path(data, server)
        if path.exists():
            found += [json.loads(line) for line in path.read_text().splitlines()]
    return [s for s in found if s["context"]["trace_id"] == f"0x{trace_id}"]


NAMES = ["eig create_quote", "txn POST /internal/v1/quotes", "eig create_transfer",
         "txn POST /internal/v1/transfers", "txn payout", "POST /v1/payouts",
         "eig receiver_callback", "txn POST /internal/v1/callbacks/receiver",
         "txn sender_callback"]


def test_the_partners_trace_runs_through_every_hop_of_its_transfer(world: World) -> None:
    trace_id, tid = send_traced(world, sampled=True)
    sender_told(world, tid, "COMPLETED")
    # The spans are exported in batches, a few seconds after they end.
    got = wait_for(lambda: (lambda s: s if {x["name"] for x in s} >= set(NAMES) else None)(
        spans(world.data_dir, trace_id)), timeout=30, what="a span of every hop")
    by = {s["name"]: s for s in got}

    def parent(child: str, of: str) -> None:
        assert by[child]["parent_id"] == by[of]["context"]["span_id"], (child, of)

    assert by["eig create_transfer"]["attributes"]["corridor.partner"] == "payfast"
    assert by["eig create_transfer"]["attributes"]["corridor.api_key.id"]
    parent("txn POST /internal/v1/transfers", "eig create_transfer")
    assert by["txn POST /internal/v1/transfers"]["attributes"]["corridor.transfer_id"] == tid
    parent("txn payout", "txn POST /internal/v1/transfers")
    parent("POST /v1/payouts", "txn payout")
    assert by["POST /v1/payouts"]["attributes"]["http.response.status_code"] == 201
    assert by["txn payout"]["attributes"]["corridor.outcome"] == "pending"
    # MobiCash answered in the trace and its callback came back in it.
    parent("eig receiver_callback", "POST /v1/payouts")
    assert by["eig receiver_callback"]["attributes"]["corridor.transfer_id"] == tid
    parent("txn POST /internal/v1/callbacks/receiver", "eig receiver_callback")
    parent("txn sender_callback", "txn POST /internal/v1/callbacks/receiver")
    assert by["txn sender_callback"]["attributes"]["corridor.outcome"] == "delivered"
    told = [c for c in world.sender_callbacks(tid) if c["status"] == "COMPLETED"]
    assert told[0]["traceparent"] == (
        f"00-{trace_id}-{by['txn sender_callback']['context']['span_id'][2:]}-01")


def test_an_unsampled_trace_is_passed_on_and_recorded_nowhere(world: World) -> None:
    trace_id, tid = send_traced(world, sampled=False)
    sender_told(world, tid, "COMPLETED")
    told = [c for c in world.sender_callbacks(tid) if c["status"] == "COMPLETED"]
    assert told[0]["traceparent"].startswith(f"00-{trace_id}-")
    assert told[0]["traceparent"].endswith("-00")
    # Spans leave in the order they end: once a later, sampled transfer's last span is out,
    # any span of the unsampled one would be too.
    later, later_tid = send_traced(world, sampled=True)
    sender_told(world, later_tid, "COMPLETED")
    wait_for(lambda: any(s["name"] == "txn sender_callback" for s in spans(
        world.data_dir, later)), timeout=30, what="the later transfer's spans")
    assert spans(world.data_dir, trace_id) == []
