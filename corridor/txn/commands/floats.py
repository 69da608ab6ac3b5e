"""A send partner's float: prefunding deposits, whether it can carry a transfer (funds
and the sender's daily limit), and the reservation an accepted transfer makes on it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corridor.core import ledger
from corridor.core.compliance import exceeds_daily
from corridor.core.errors import Conflict, InvalidInput
from corridor.core.ids import new_id
from corridor.core.money import Money
from corridor.core.pricing import Quote
from corridor.core.times import rfc3339
from corridor.site.model import Partner
from corridor.store import Changes, Needs, TransferRow, UnitOfWork
from corridor.txn.commands.transitions import event_id
from corridor.txn.wire import encode


def funds_and_limits(b: UnitOfWork, partner: Partner, quote: Quote, sender_key: str,
                     day: str) -> tuple[str, str] | None:
    """Why this transfer cannot be reserved now, as (code, reason); None if it can."""
    if exceeds_daily(partner, quote.send.minor, b.day_total(partner.id, sender_key, day)):
        return "limit_exceeded", "the sender's daily limit would be exceeded"
    posted, pending = b.balance(ledger.float_account(partner.id, quote.send.currency))
    total = quote.send.minor + quote.fee.minor  # quote.total, without building a Money
    if posted + pending - total < (partner.float_floor or 0):
        return "insufficient_funds", f"the {quote.send.currency} float cannot cover {quote.total}"
    return None


def reserve(ch: Changes, b: UnitOfWork, row: TransferRow, quote: Quote, day: str, at: str) -> None:
    """Reserve the float for an accepted transfer and queue its payout (CreateTransfer
    writes the same rows, made before it was queued)."""
    ch.journal(event_id(row.id, "reserve"), row.id, "reserve", "pending",
               ledger.transfer_legs(quote), at)
    ch.add_daily(row.partner_id, row.sender_key, day, quote.send.minor)
    ch.send("payout", row.id, row.receive_partner_id, encode({"transfer_id": row.id}).decode(),
            at, at)


@dataclass(slots=True)
class Fund:
    """Record a send partner's prefunding deposit on its float."""

    partner: Partner
    amount: Money
    reference: str
    now: datetime

    def needs(self, n: Needs) -> None:
        n.accounts.add(ledger.float_account(self.partner.id, self.amount.currency))

    def apply(self, b: UnitOfWork, ch: Changes) -> dict[str, Any]:
        p = self.partner
        if not p.sends:
            raise InvalidInput(f"{p.id} is not a send partner", code="not_a_send_partner")
        if self.amount.currency not in p.currencies:
            raise InvalidInput(f"{p.id} does not hold {self.amount.currency}",
                               code="currency_not_supported")
        if self.amount.minor <= 0:
            raise InvalidInput("a deposit must be positive", code="invalid_amount")
        if b.funded(p.id, self.reference):
            raise Conflict(f"deposit {self.reference!r} is already recorded",
                           code="duplicate_reference")
        at, journal = rfc3339(self.now), new_id()
        ch.journal(journal, None, "fund", "posted", ledger.funding_legs(p.id, self.amount), at)
        ch.funding(p.id, self.reference, self.amount.currency, self.amount.minor, journal, at)
        ch.event(new_id(), "ledger.funded", None, at, encode({
            "partner": p.id, "currency": self.amount.currency, "amount": self.amount.minor,
            "reference": self.reference}).decode())
        return {"partner": p.id, "amount": self.amount.text, "currency": self.amount.currency,
                "reference": self.reference, "journal": journal}
