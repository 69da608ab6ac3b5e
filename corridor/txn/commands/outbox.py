"""The outbox's messages (sender callbacks): leasing them to a delivery pump, recording
each attempt's result, and queueing a parked one again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from corridor.core.errors import Conflict, NotFound
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, UnitOfWork
from corridor.store.rows import OutboxRow


@dataclass(slots=True)
class ClaimOutbox:
    """Lease due outbox messages of `kind` to this worker (skipping others' on PostgreSQL):
    each claim counts as an attempt and moves `due_at` past the lease."""

    kind: str
    now: datetime
    limit: int
    lease: timedelta

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> list[Any]:
        rows = b.due_outbox(self.kind, rfc3339(self.now), self.limit)
        until = rfc3339(self.now + self.lease)
        for r in rows:
            ch.outbox_state(r.id, r.state, r.attempts + 1, until, r.last_error)
        return rows


@dataclass(slots=True)
class Delivered:
    """The result of one attempt to deliver an outbox message (a sender callback): done,
    or due again at `retry_at`, or parked (`dead`) once `give_up_at` has passed."""

    message: OutboxRow
    ok: bool
    error: str | None
    now: datetime
    retry_at: datetime
    period: timedelta  # how long a failing message is retried before it is parked

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> str:
        m, at = self.message, rfc3339(self.now)
        if self.ok:
            ch.outbox_retry(m.id, "done", at, None, m.give_up_at)
            return "done"
        give_up = m.give_up_at or rfc3339(self.now + self.period)
        if give_up <= at:
            ch.outbox_retry(m.id, "dead", at, self.error, give_up)
            return "dead"
        ch.outbox_retry(m.id, "pending", rfc3339(self.retry_at), self.error, give_up)
        return "pending"


@dataclass(slots=True)
class Replay:
    """Queue a parked (or any not yet delivered) message again, with a fresh period."""

    outbox_id: int
    now: datetime

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> OutboxRow:
        m = b.outbox_message(self.outbox_id)
        if m is None:
            raise NotFound(f"no outbox message {self.outbox_id}", code="message_not_found")
        if m.state == "done":
            raise Conflict(f"message {m.id} was already delivered", code="already_delivered")
        ch.outbox_retry(m.id, "pending", rfc3339(self.now), m.last_error, None)
        return m
