"""Quotes: a priced quote is stored and answered under the partner's idempotency key.

A quote is priced on the event loop from the engine's copy of the rates; in the group
commit that stores it, the rate it used is checked against the newest in the store (one
read per group and pair), and a quote priced on a rate replaced meanwhile is priced again
on the newest (`reprice`), so a quote never uses a rate older than the newest committed."""

from __future__ import annotations

from collections.abc import Callable
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
    # Price again on the store's newest rates (when the one used was replaced meanwhile).
    reprice: Callable[[UnitOfWork], Quote] | None = None

    def needs(self, n: Needs) -> None:
        n.idempotency.add((self.partner_id, self.key))

    def apply(self, b: UnitOfWork, ch: Changes) -> Reply:
        old = replay(b, self.partner_id, self.key, self.body_hash)
        if old is not None:
            return old
        quote = self.quote
        if self.reprice is not None and quote.send.currency != quote.receive.currency and \
                b.fx_rate_id(quote.send.currency, quote.receive.currency) != quote.fx_rate_id:
            quote = self.reprice(b)
        ch.quotes.append(quote)
        reply = Reply(201, encode(quote_wire(quote)).decode())
        ch.remember(self.partner_id, self.key, self.body_hash, reply.status, reply.body,
                    rfc3339(quote.created_at))
        return reply
