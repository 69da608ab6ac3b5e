"""The worker that drives accepted transfers forward: it leases due payout messages from
the outbox, moves each transfer to SUBMITTED, hands it to the receive partner's connector
and applies the outcome. Every step is a group-committed command, so a crash at any point
leaves a state from which the next claim resumes (the connector's idempotency key makes a
second submission harmless). It also forgets idempotency keys older than 25 hours."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from datetime import timedelta

from corridor.core.money import Money
from corridor.store.rows import OutboxRow, TransferRow
from corridor.txn import commands as c
from corridor.txn.connectors import Connectors, Payout
from corridor.txn.engine import Engine
from corridor.txn.wire import decode

log = logging.getLogger("corridor.txn.worker")
KEEP_KEYS = timedelta(hours=25)
# How long a claimed payout stays with its worker before another claim may take it (after
# a crash, this is how long an interrupted payout waits). Longer than a connector's timeout.
LEASE = timedelta(seconds=float(os.environ.get("CORRIDOR_TXN_LEASE_S", "15")))


class Worker:
    def __init__(self, engine: Engine, connectors: Connectors, *, idle: float = 0.05,
                 claim: int = 512) -> None:
        self.engine = engine
        self.connectors = connectors
        self.idle = idle
        self.claim = claim
        self.paid = 0
        self._last_cleanup = engine.clock() - timedelta(days=1)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                done = await self.step()
            except Exception:  # a failing step must not stop the worker; it retries
                log.exception("worker step failed")
                done = 0
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle)

    async def step(self) -> int:
        """Claim and process one round of due payouts; how many were claimed."""
        now = self.engine.clock()
        if now - self._last_cleanup > timedelta(hours=1):
            self._last_cleanup = now
            await self.engine.writer.submit(c.ForgetKeys(now - KEEP_KEYS))
        rows: list[OutboxRow] = await self.engine.writer.submit(
            c.ClaimPayouts(now, self.claim, LEASE))
        if rows:
            await asyncio.gather(*(self.pay(r) for r in rows))
        return len(rows)

    async def pay(self, message: OutboxRow) -> None:
        engine = self.engine
        if message.transfer_id is None:
            return
        connector = self.connectors.for_partner(message.partner_id)
        if connector is None:
            return  # no connector of that kind here: the lease runs out and it waits
        row: TransferRow | None = await engine.writer.submit(
            c.BeginPayout(message.transfer_id, engine.clock()))
        if row is None:
            return
        payout = Payout(
            transfer_id=row.id, reference=row.reference,
            receive_partner_id=row.receive_partner_id,
            amount=Money(row.receive_minor, row.receive_currency),
            payout_method=row.payout_method, beneficiary=decode(row.beneficiary),
        )
        result = await connector.submit_payout(payout, f"payout:{row.id}")
        await engine.writer.submit(
            c.FinishPayout(row.id, result.status, result.reason, engine.clock()))
        if result.status == "completed":
            self.paid += 1
