"""The recall pump: it leases due `recall` outbox messages (a send partner's recall,
written by `commands.returns.RequestRecall`) and forwards each to the receive partner's
connector (`Connector.request_recall`, idempotent by the key `<transfer id>/recall`), then
applies the answer: accepted (the return follows), refused (the send partner hears it),
returned in the answer (booked as a return at once), or no usable answer (asked again
after a backoff).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from corridor.settings import Settings
from corridor.store import reads as q
from corridor.store.rows import OutboxRow
from corridor.txn.commands.returns import AnswerRecall, BookReturn, Outcome
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from corridor.txn.wire import decode
from corridor.txn.worker import Backoff, Pump, payout_of

log = logging.getLogger("corridor.txn.recalls")
KIND = "recall"


class RecallForwarder(Pump):
    kind = KIND

    def __init__(self, engine: Engine, connectors: Connectors, settings: Settings, *,
                 idle: float = 0.05) -> None:
        super().__init__(engine, lease=timedelta(seconds=settings.txn_lease_s), idle=idle,
                         inflight=64)
        self.connectors = connectors
        self.backoff = Backoff(settings.payout_retry_s, settings.payout_poll_max_s)

    async def handle(self, message: OutboxRow) -> None:
        engine = self.engine
        connector = self.connectors.for_partner(message.partner_id)
        if connector is None or message.transfer_id is None:
            return  # no connector of that kind here: the lease runs out and it waits
        row = await engine.read(q.transfer, message.transfer_id)
        if row is None:
            return
        reason = str(decode(message.payload).get("reason") or "recalled by the send partner")
        result = await connector.request_recall(payout_of(row), reason, f"{row.id}/recall")
        now = engine.clock()
        if result.status == "returned":
            outcome: Outcome = await engine.writer.submit(BookReturn(
                row.id, result.reason or f"recalled: {reason}", now,
                return_reference=result.return_reference, source="recall"))
            if outcome.refusal is not None:
                log.warning("recall of %s: the return was not booked: %s", row.id,
                            outcome.refusal.detail)
            return
        await engine.writer.submit(AnswerRecall(
            row.id, {"accepted": "forwarded"}.get(result.status, result.status),
            result.reason, now, retry_at=self.backoff.after(now, message.attempts)))
