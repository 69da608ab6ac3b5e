"""Ledger postings: double entry, signed amounts, every journal balanced per currency.

A positive balance is what the hub holds for (owes) that party; a negative balance is an
asset of the hub. Account names are the contract in docs/internal-api.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import NamedTuple

from corridor.core.money import Money
from corridor.core.pricing import Quote


class Leg(NamedTuple):
    """One line of a journal. (A named tuple: every transfer makes six, and a frozen
    dataclass costs several times more to build.)"""

    account: str
    currency: str
    amount: int  # minor units, signed


def float_account(partner_id: str, currency: str) -> str:
    return f"float:{partner_id}:{currency}"


def bank_account(partner_id: str, currency: str) -> str:
    return f"bank:{partner_id}:{currency}"


def settlement_account(partner_id: str, currency: str) -> str:
    return f"settlement:{partner_id}:{currency}"


def fee_revenue_account(currency: str) -> str:
    return f"revenue:fee:{currency}"


def fx_revenue_account(currency: str) -> str:
    return f"revenue:fx:{currency}"


def fx_position_account(currency: str) -> str:
    return f"fx:position:{currency}"


def transfer_legs(quote: Quote, receive_partner_id: str | None = None) -> list[Leg]:
    """The journal of one transfer: the float pays send + fee; the fee and the FX margin
    are revenue; the rest is converted and owed to the receive partner (the quote's, or
    `receive_partner_id` when the payout was routed to another one)."""
    s, r = quote.send.currency, quote.receive.currency
    send, fee, margin = quote.send.minor, quote.fee.minor, quote.fx_margin.minor
    receive = quote.receive.minor
    legs = [
        Leg(float_account(quote.partner_id, s), s, -(send + fee)),  # quote.total
        Leg(fee_revenue_account(s), s, fee),
        Leg(fx_revenue_account(s), s, margin),
        Leg(fx_position_account(s), s, send - margin),  # converted at the mid rate
        Leg(fx_position_account(r), r, -receive),
        Leg(settlement_account(receive_partner_id or quote.receive_partner_id, r), r, receive),
    ]
    return [leg for leg in legs if leg.amount]


def reroute_legs(quote: Quote, from_partner: str, to_partner: str) -> list[Leg]:
    """A reserved payout moved from one receive partner to another: what is owed moves
    from the first's settlement account to the second's."""
    r, receive = quote.receive.currency, quote.receive.minor
    return [Leg(settlement_account(from_partner, r), r, -receive),
            Leg(settlement_account(to_partner, r), r, receive)]


def funding_legs(partner_id: str, deposit: Money) -> list[Leg]:
    """A send partner's prefunding deposit: the hub's bank received it; the float holds it."""
    if deposit.minor <= 0:
        raise ValueError("a deposit must be positive")
    c = deposit.currency
    return [
        Leg(bank_account(partner_id, c), c, -deposit.minor),
        Leg(float_account(partner_id, c), c, deposit.minor),
    ]


def reversal(legs: Iterable[Leg]) -> list[Leg]:
    return [Leg(leg.account, leg.currency, -leg.amount) for leg in legs]


def imbalance(legs: Iterable[Leg]) -> dict[str, int]:
    """Per-currency sums that are not zero (empty when the journal balances)."""
    sums: dict[str, int] = defaultdict(int)
    for leg in legs:
        sums[leg.currency] += leg.amount
    return {c: total for c, total in sums.items() if total != 0}
