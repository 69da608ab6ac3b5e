"""Idempotency keys: the answer kept under a partner's key, given again to a retry, and
the keys dropped once they are older than the retention."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from corridor.core.errors import Conflict
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, UnitOfWork


@dataclass(slots=True)
class Reply:
    """An HTTP answer: kept under the idempotency key so a retry gets it back verbatim."""

    status: int
    body: str
    replayed: bool = False


def replay(b: UnitOfWork, partner_id: str, key: str, body_hash: str) -> Reply | None:
    """The stored answer for a retried key, or None for a new key; another body under a
    used key is a conflict."""
    stored = b.stored(partner_id, key)
    if stored is None:
        return None
    if stored.body_hash != body_hash:
        raise Conflict(f"Idempotency-Key {key!r} was used with another body",
                       code="idempotency_conflict")
    return Reply(stored.status, stored.response, replayed=True)


@dataclass(slots=True)
class ForgetKeys:
    """Drop idempotency keys older than the retention (at least 24 hours)."""

    before: datetime

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> int:
        return b.forget_idempotency(rfc3339(self.before))
