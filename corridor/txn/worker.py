"""The payout worker: it leases due payout messages from the outbox, moves each transfer
to SUBMITTED, hands it to the receive partner's connector and applies the outcome. Every
step is a group-committed command, so a crash at any point leaves a state from which the
next claim resumes: a transfer already SUBMITTED or UNKNOWN is asked about (status query),
and resubmitted under the same idempotency key only when the partner says it never got it.

Outcomes: PENDING waits for the receiver callback, with a status query after `poll` in
case it never comes; SUCCESS completes, FAILURE or a definite refusal fails; no usable
answer (timeout, 5xx, no connection after the connector's retries) makes the transfer
UNKNOWN and status queries follow with exponential backoff until the partner knows.
It also forgets idempotency keys older than 25 hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from corridor.core.money import Money
from corridor.store.rows import OutboxRow
from corridor.txn import commands as c
from corridor.txn.connectors import Connectors, Payout, PayoutResult
from corridor.txn.engine import Engine
from corridor.txn.wire import decode

log = logging.getLogger("corridor.txn.worker")
KEEP_KEYS = timedelta(hours=25)
# How long a claimed payout stays with its worker before another claim may take it (after
# a crash, this is how long an interrupted payout waits). Longer than a connector's timeout.
LEASE = timedelta(seconds=float(os.environ.get("CORRIDOR_TXN_LEASE_S", "15")))


@dataclass(frozen=True, slots=True)
class Backoff:
    """first * 2**(attempt-1), at most `cap` seconds."""

    first: float
    cap: float

    def after(self, now: datetime, attempt: int) -> datetime:
        seconds = min(self.first * 2 ** max(attempt - 1, 0), self.cap)
        return now + timedelta(seconds=seconds)


def _env(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


# PENDING: first status query when no callback came. UNKNOWN: the first query sooner, as the
# partner may well know by then; both double up to the cap.
POLL = Backoff(_env("CORRIDOR_PAYOUT_POLL_S", 30), _env("CORRIDOR_PAYOUT_POLL_MAX_S", 600))
ASK = Backoff(_env("CORRIDOR_PAYOUT_RETRY_S", 5), _env("CORRIDOR_PAYOUT_POLL_MAX_S", 600))


def payout_of(row: c.TransferRow) -> Payout:
    sender = decode(row.sender)
    sender.setdefault("country", row.corridor.split("-")[0])
    return Payout(
        transfer_id=row.id, reference=row.reference,
        receive_partner_id=row.receive_partner_id,
        amount=Money(row.receive_minor, row.receive_currency),
        payout_method=row.payout_method, beneficiary=decode(row.beneficiary),
        sender=sender, purpose=row.purpose,
    )


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
            c.ClaimOutbox("payout", now, self.claim, LEASE))
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
        begun: tuple[c.TransferRow, bool] | None = await engine.writer.submit(
            c.BeginPayout(message.transfer_id, engine.clock()))
        if begun is None:
            return
        row, fresh = begun
        payout = payout_of(row)
        key = row.id  # one idempotency key per payout, for its whole life
        result: PayoutResult
        if fresh:
            result = await connector.submit_payout(payout, key)
        else:
            result = await connector.query_status(payout, key)
            if result.status == "not_found":
                # The partner never received it (the earlier submission was lost on the
                # way): submit again under the same key, never a new one.
                log.info("payout %s unknown to %s; submitting again", row.id,
                         row.receive_partner_id)
                result = await connector.submit_payout(payout, key)
        now = engine.clock()
        backoff = POLL if result.status == "pending" else ASK
        await engine.writer.submit(c.FinishPayout(
            row.id, result.status, result.reason, now,
            retry_at=backoff.after(now, message.attempts),
            partner_reference=result.partner_reference))
        if result.status == "completed":
            self.paid += 1
