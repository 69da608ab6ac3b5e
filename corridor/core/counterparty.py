"""A partner as pricing and compliance see it: where it is, what it sends or pays out in,
and the limits it trades under. The site's `Partner` extends it with how the hub knows
and reaches the partner (certificate, addresses, tunnel), which the domain never reads."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    per_transfer: int | None = None  # minor units of the partner's currency
    per_sender_daily: int | None = None


@dataclass(frozen=True, slots=True)
class Counterparty:
    id: str
    country: str
    currencies: tuple[str, ...]  # the first is the partner's own currency
    payout_methods: tuple[str, ...]  # receive partners only
    limits: Limits
