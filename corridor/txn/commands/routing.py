"""Routing a payout to another receive partner, and recording a partner's circuit breaker.

A payout moves only while no partner can have it: when it is claimed ACCEPTED (before any
call), or when its first submission got no connection at all (`corridor.httppool.
ConnectFailed`: the request was never sent). A payout that may have been credited - a
submission that timed out or was answered, anything UNKNOWN - stays with its partner.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from corridor.core import ledger
from corridor.core.ids import new_id
from corridor.core.states import Status
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, TransferRow, UnitOfWork
from corridor.txn.wire import encode


def route(b: UnitOfWork, ch: Changes, row: TransferRow, to: str, why: str, at: str) -> TransferRow:
    """Give a stored transfer's payout to `to`: the settlement owed moves with it (a pending
    journal), the change is an event of the feed (`transfer.routed`)."""
    quote = b.quote(row.quote_id)
    assert quote is not None, f"transfer {row.id} has no quote {row.quote_id}"
    was = row.receive_partner_id
    ch.journal(f"{row.id}/route/{new_id()}", row.id, "reroute", "pending",
               ledger.reroute_legs(quote, was, to), at)
    ch.route(row.id, to)
    ch.event(f"{row.id}/route/{new_id()}", "transfer.routed", row.id, at,
             encode({"from": was, "to": to, "reason": why, "status": row.status}).decode())
    return msgspec.structs.replace(row, receive_partner_id=to)


@dataclass(slots=True)
class Reroute:
    """A submission that reached no one (no connection on any attempt) goes to another
    partner of the route: still SUBMITTED, its payout message due at once, so the worker
    asks the new partner (NOT_FOUND) and submits under the same idempotency key. Refused
    (False) when the transfer moved on meanwhile or is no longer with `from_partner`."""

    transfer_id: str
    from_partner: str
    to_partner: str
    reason: str
    now: datetime

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)

    def apply(self, b: UnitOfWork, ch: Changes) -> bool:
        row = b.transfer(self.transfer_id)
        if row is None or row.status != Status.SUBMITTED \
                or row.receive_partner_id != self.from_partner:
            return False
        at = rfc3339(self.now)
        route(b, ch, row, self.to_partner, self.reason, at)
        ch.reschedule(row.id, "payout", at)
        return True


@dataclass(slots=True)
class RecordBreaker:
    """A receive partner's circuit breaker changed state (`corridor.core.routing`)."""

    partner_id: str
    state: str
    failures: int
    reason: str | None
    since: datetime
    probe_at: datetime | None

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> None:
        probe = rfc3339(self.probe_at) if self.probe_at is not None else None
        ch.execute(
            "INSERT INTO partner_breakers (partner_id, state, failures, reason, since, "
            "probe_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (partner_id) DO UPDATE SET "
            "state = excluded.state, failures = excluded.failures, reason = excluded.reason, "
            "since = excluded.since, probe_at = excluded.probe_at",
            (self.partner_id, self.state, self.failures, self.reason, rfc3339(self.since),
             probe))
