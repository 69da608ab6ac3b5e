"""The payout worker: it leases due payout messages from the outbox and, in the same
commit, moves each transfer to SUBMITTED; then it hands the payout to the receive
partner's connector and applies the outcome. Every step is a group-committed command, so
a crash at any point leaves a state from which the next claim resumes: a transfer already
SUBMITTED or UNKNOWN is asked about (status query), and resubmitted under the same
idempotency key only when the partner says it never got it.

Outcomes: PENDING waits for the receiver callback, with a first status query when the
claim's lease runs out in case it never comes (then after a poll delay, doubling); SUCCESS
completes, FAILURE or a definite refusal fails; no usable answer (timeout, 5xx, no
connection after the connector's retries) makes the transfer UNKNOWN and status queries
follow with exponential backoff until the partner knows. It also forgets idempotency keys
older than 25 hours.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry.trace import SpanKind

from corridor.core.money import Money
from corridor.settings import Settings
from corridor.store.rows import OutboxRow, TransferRow
from corridor.txn.commands.idempotency import ForgetKeys
from corridor.txn.commands.outbox import ClaimOutbox
from corridor.txn.commands.payouts import ClaimPayouts, FinishPayout
from corridor.txn.commands.routing import Reroute
from corridor.txn.connectors import Connector, Connectors, Payout, PayoutResult
from corridor.txn.engine import Engine
from corridor.txn.routing import Router
from corridor.txn.wire import decode

log = logging.getLogger("corridor.txn.worker")
KEEP_KEYS = timedelta(hours=25)


@dataclass(frozen=True, slots=True)
class Backoff:
    """first * 2**(attempt-1), at most `cap` seconds."""

    first: float
    cap: float

    def after(self, now: datetime, attempt: int) -> datetime:
        seconds = min(self.first * 2 ** max(attempt - 1, 0), self.cap)
        return now + timedelta(seconds=seconds)


def payout_of(row: TransferRow) -> Payout:
    sender = decode(row.sender)
    sender.setdefault("country", row.corridor.split("-")[0])
    return Payout(
        transfer_id=row.id, reference=row.reference,
        receive_partner_id=row.receive_partner_id,
        amount=Money(row.receive_minor, row.receive_currency),
        payout_method=row.payout_method, beneficiary=decode(row.beneficiary),
        sender=sender, purpose=row.purpose,
    )


class Pump:
    """Claims due outbox messages of one kind and handles each in its own task, with at
    most `inflight` at once. It claims again as soon as there is room (a slow partner
    never holds up the next claim) and sleeps only when nothing is due, until `idle`
    passes or the engine says messages of its kind were committed."""

    kind = ""

    def __init__(self, engine: Engine, *, lease: timedelta, idle: float = 0.05,
                 inflight: int = 512) -> None:
        self.engine = engine
        self.idle = idle
        self.inflight = inflight
        self.lease = lease
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._room.set()

    async def run(self, stop: asyncio.Event) -> None:
        wake = self.engine.waker(self.kind)
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    claimed = await self.claim()
                except Exception:  # a failing round must not stop the pump; it retries
                    log.exception("%s round failed", self.kind)
                    claimed = 0
                if len(self._tasks) >= self.inflight:
                    self._room.clear()
                    await _first(stop, self._room, timeout=self.idle)
                elif not claimed:
                    await _first(stop, wake, timeout=self.idle)
        finally:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self.engine.unwake(wake)
            await self.close()

    async def step(self) -> int:
        """One round: claim what is due and handle all of it; how many were claimed."""
        claimed = await self.claim()
        await self.drain()
        return claimed

    def claim_command(self, room: int) -> Any:
        return ClaimOutbox(self.kind, self.engine.clock(), room, self.lease)

    async def claim(self) -> int:
        """Claim what is due (as much as there is room for) and start handling it."""
        room = self.inflight - len(self._tasks)
        if room <= 0:
            return 0
        rows: list[Any] = await self.engine.writer.submit(self.claim_command(room))
        for row in rows:
            task = asyncio.create_task(self._handle(row))
            self._tasks.add(task)
            task.add_done_callback(self._done)
        return len(rows)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room.set()

    async def _handle(self, item: Any) -> None:
        try:
            await self.handle(item)
        except Exception:  # the lease runs out and the message is claimed again
            log.exception("%s failed", self.kind)

    async def drain(self) -> None:
        """Wait until every message claimed so far is handled (tests, the bench)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def handle(self, item: Any) -> None:
        """Handle one claimed item (what the claim command returned for a message)."""
        raise NotImplementedError

    async def close(self) -> None:
        return None


async def _first(stop: asyncio.Event, other: asyncio.Event, timeout: float) -> None:
    """Wait until `stop` or `other` is set, or `timeout` passes."""
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


class Worker(Pump):
    """The payout pump."""

    kind = "payout"

    def __init__(self, engine: Engine, connectors: Connectors, settings: Settings, *,
                 idle: float = 0.05, claim: int = 512) -> None:
        # A claimed payout stays with this worker for the lease (after a crash, that is how
        # long an interrupted payout waits).
        super().__init__(engine, lease=timedelta(seconds=settings.txn_lease_s), idle=idle,
                         inflight=claim)
        self.connectors = connectors
        self.router = Router(engine, connectors, settings)
        # PENDING: first status query when no callback came. UNKNOWN: the first query
        # sooner, as the partner may well know by then; both double up to the cap.
        self.poll = Backoff(settings.payout_poll_s, settings.payout_poll_max_s)
        self.ask = Backoff(settings.payout_retry_s, settings.payout_poll_max_s)
        self.paid = 0
        self._last_cleanup = engine.clock() - timedelta(days=1)

    async def claim(self) -> int:
        now = self.engine.clock()
        if now - self._last_cleanup > timedelta(hours=1):
            self._last_cleanup = now
            await self.engine.writer.submit(ForgetKeys(now - KEEP_KEYS))
        return await super().claim()

    def claim_command(self, room: int) -> Any:
        return ClaimPayouts(self.engine.clock(), room, self.lease, self.router.pick)

    async def run(self, stop: asyncio.Event) -> None:
        probes = asyncio.create_task(self.router.run(stop))
        try:
            await super().run(stop)
        finally:
            await probes

    async def handle(self, item: tuple[OutboxRow, TransferRow, bool]) -> None:
        await self.pay(*item)

    async def pay(self, message: OutboxRow, row: TransferRow, fresh: bool) -> None:
        partner = row.receive_partner_id  # the claim may have routed it
        connector = self.connectors.for_partner(partner)
        if connector is None:
            return  # no connector of that kind here: the lease runs out and it waits
        # In the trace of the call that accepted the transfer (its outbox message keeps it):
        # the calls to the partner carry it on, and so does the sender callback this
        # payout's outcome writes.
        with self.engine.tracing.hop(
                "txn payout" if fresh else "txn payout status", message.traceparent,
                {"corridor.transfer_id": row.id, "corridor.partner": partner,
                 "corridor.attempt": message.attempts}, kind=SpanKind.CLIENT,
                root=False) as hop:
            status = await self._pay(connector, partner, message, row, fresh)
            hop.set("corridor.outcome", status)

    async def _pay(self, connector: Connector, partner: str, message: OutboxRow,
                   row: TransferRow, fresh: bool) -> str:
        engine = self.engine
        payout = payout_of(row)
        key = row.id  # one idempotency key per payout, for its whole life
        result: PayoutResult
        if fresh:
            result = self._saw(partner, await connector.submit_payout(payout, key))
            if result.status == "not_sent":
                # Nobody can have it: another partner of its route takes it, if any is in
                # rotation; otherwise it waits here as a payout without an answer.
                other = self.router.alternative(row)
                if other is not None and await engine.writer.submit(Reroute(
                        row.id, partner, other, f"{result.reason}; routed to {other}",
                        engine.clock())):
                    return "rerouted"
                result = PayoutResult("unknown", reason=result.reason)
            if result.status == "pending":
                # The usual case: the callback follows. Nothing to write: the claim's
                # lease already holds the message back until the first status query.
                return result.status
        else:
            result = self._saw(partner, await connector.query_status(payout, key))
            if result.status == "not_found":
                # The partner never received it (the earlier submission was lost on the
                # way): submit again under the same key, never a new one.
                log.info("payout %s unknown to %s; submitting again", row.id,
                         row.receive_partner_id)
                result = self._saw(partner, await connector.submit_payout(payout, key))
                if result.status == "not_sent":
                    result = PayoutResult("unknown", reason=result.reason)
        now = engine.clock()
        backoff = self.poll if result.status == "pending" else self.ask
        await engine.writer.submit(FinishPayout(
            row.id, result.status, result.reason, now,
            retry_at=backoff.after(now, message.attempts),
            partner_reference=result.partner_reference))
        if result.status == "completed":
            self.paid += 1
        return result.status

    def _saw(self, partner: str, result: PayoutResult) -> PayoutResult:
        """Tell the partner's breaker whether the call reached it."""
        if result.unreachable:
            self.router.unreachable(partner, result.reason or "no connection")
        else:
            self.router.reached(partner)
        return result
