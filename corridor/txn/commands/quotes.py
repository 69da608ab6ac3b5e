"""Quotes: a priced quote is stored and answered under the partner's idempotency key."""

from __future__ import annotations

from dataclasses import dataclass

from corridor.core.pricing import Quote
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, UnitOfWork
from corridor.txn.commands.idempotency import Reply, replay
from corridor.txn.wire import encode, quote_wire


@dataclass(slots=True)
class CreateQuote:
    partner_id: str
    key: str
    body_hash: str
    quote: Quote

    def needs(self, n: Needs) -> None:
        n.idempotency.add((self.partner_id, self.key))

    def apply(self, b: UnitOfWork, ch: Changes) -> Reply:
        old = replay(b, self.partner_id, self.key, self.body_hash)
        if old is not None:
            return old
        ch.quotes.append(self.quote)
        reply = Reply(201, encode(quote_wire(self.quote)).decode())
        ch.remember(self.partner_id, self.key, self.body_hash, reply.status, reply.body,
                    rfc3339(self.quote.created_at))
        return reply
