"""Wire schema of `GET /v1/corridors`: what the calling send partner may send, each
corridor and payout method with the amounts, fee, KYC fields, quote lifetime and
indicative rate that `POST /v1/quotes` and `POST /v1/transfers` hold it to."""

from __future__ import annotations

import msgspec


class AmountRange(msgspec.Struct, kw_only=True):
    """Inclusive bounds, decimal strings in the currency's minor unit."""

    min: str
    max: str


class FeeSchedule(msgspec.Struct, kw_only=True):
    """fixed + percent_bps of the send amount, rounded half up, clamped to [min, max]."""

    currency: str
    fixed: str
    percent_bps: int
    min: str
    max: str


class PartyFields(msgspec.Struct, kw_only=True):
    """Fields a party must give (non-blank): every one of `required`, and every field of
    at least one group of `one_of` when there are groups."""

    required: list[str]
    one_of: list[list[str]] = msgspec.field(default_factory=list)


class KycFields(msgspec.Struct, kw_only=True):
    sender: PartyFields
    beneficiary: PartyFields


class IndicativeRate(msgspec.Struct, kw_only=True):
    """The customer rate a quote made now would get (mid rate less the hub's margin),
    the mid rate and where it comes from; a quote fixes its own."""

    rate: str
    mid_rate: str
    source: str
    at: str | None  # when the source gave the mid rate; null for a static rate
    stale: bool  # older than the hub's maximum age: quotes are refused rates_stale


class CorridorOffer(msgspec.Struct, kw_only=True):
    corridor: str  # send country - destination country, e.g. "IN-KE"
    destination_country: str
    send_currency: str
    receive_currency: str
    payout_method: str
    available: bool  # a quote asked now can be priced
    unavailable_code: str | None = None  # the problem code a quote gets when not available
    # Each bound holds when the other side's amount is asked for, at the indicative rate:
    # a quote from a send amount in `send_amount`, or from a receive amount in
    # `receive_amount`, is accepted; one minor unit beyond is refused. null when stale.
    send_amount: AmountRange | None = None
    receive_amount: AmountRange | None = None
    per_sender_daily: str | None = None  # one sender's total per day, send currency
    fee: FeeSchedule
    kyc: KycFields
    transfer_fields: list[str]  # other fields POST /v1/transfers requires
    quote_ttl_seconds: int
    indicative_rate: IndicativeRate | None = None


class Catalogue(msgspec.Struct, kw_only=True):
    partner: str
    as_of: str
    corridors: list[CorridorOffer]
