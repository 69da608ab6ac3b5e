"""TXN's store gauges (what the alert rules watch), read the way `/metrics` reads them,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from corridor.txn.commands.outbox import ClaimOutbox, Delivered
from corridor.txn.commands.payouts import ClaimPayouts, FinishPayout
from corridor.txn.engine import Engine
from corridor.txn.gauges import StoreGauges
from tests.txn.rig import Clock, transfer_body
from tests.txn.test_lifecycle import create, fund, new_quote


def scrape(gauges: StoreGauges) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    asyncio.run(gauges.refresh())
    registry = CollectorRegistry()
    registry.register(gauges)
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_quiet_store_reports_the_float_and_nothing_to_do(engine: Engine) -> None:
    asyncio.run(fund(engine, "1500.50"))
    found = scrape(StoreGauges(engine))
    labels = (("currency", "INR"), ("partner", "payfast"))
    assert found[("corridor_txn_float_available", labels)] == 1500.5
    assert found[("corridor_txn_float_floor", labels)] == 0.0
    assert found[("corridor_txn_event_seq", ())] >= 1
    assert not [k for k in found if k[0] in (
        "corridor_txn_unknown_payouts", "corridor_txn_sender_callbacks_parked",
        "corridor_txn_reconciliation_open")]


def test_unknown_payouts_parked_callbacks_and_open_flags_are_counted(
        engine: Engine, clock: Clock) -> None:
    async def go() -> None:
        await fund(engine)
        ids = []
        for n in (1, 2):
            quote = await new_quote(engine, f"q-{n}")
            t = await create(engine, f"t-{n}", transfer_body(quote["id"], reference=f"r-{n}"))
            ids.append(t["id"])
        submit: Any = engine.writer.submit
        claimed = await submit(ClaimPayouts(clock(), 10, timedelta(minutes=5)))
        assert {t.id for _, t, _ in claimed} == set(ids)
        # The first payout goes UNKNOWN; the second fails, then the partner says SUCCESS.
        await submit(FinishPayout(ids[0], "unknown", "no answer", clock()))
        await submit(FinishPayout(ids[1], "failed", "closed", clock()))
        await submit(FinishPayout(ids[1], "completed", None, clock()))
        # The failure's sender callback fails once after its whole period: parked.
        messages = await submit(ClaimOutbox("sender_callback", clock(), 10,
                                              timedelta(minutes=5)))
        for m in messages:
            assert await submit(Delivered(m, False, "refused", clock(), clock(),
                                            timedelta(0))) == "dead"

    asyncio.run(go())
    clock.advance(1800)
    found = scrape(StoreGauges(engine))
    assert found[("corridor_txn_unknown_payouts", (("partner", "mobicash"),))] == 1
    age = found[("corridor_txn_unknown_payout_oldest_seconds", (("partner", "mobicash"),))]
    assert 1799 < age < 1801  # stored times keep milliseconds
    assert found[("corridor_txn_sender_callbacks_parked", (("partner", "payfast"),))] == 1
    assert found[("corridor_txn_reconciliation_open",
                  (("kind", "success_after_failure"),))] == 1
