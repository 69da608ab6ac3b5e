"""Pricing a transfer: routing, FX with the hub's margin, fees, limits, the fixed quote.

Rounding, documented once:
- the customer rate is the mid rate less `fx.margin_bps`, truncated to 8 decimal places;
- from a send amount, the receive amount is rounded *down* to the receive currency's minor
  unit; from a receive amount, the send amount is rounded *up* so the beneficiary gets at
  least what was asked, and gets exactly that;
- the fee is fixed + percent of the send amount, rounded half up to the minor unit, then
  clamped to the corridor's min and max;
- the FX margin is the send amount less the mid-rate value of the receive amount (rounded
  half even). Send amount = converted + margin exactly, so no minor unit is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from corridor.core.counterparty import Counterparty
from corridor.core.errors import InvalidInput
from corridor.core.fx import DEFAULT_BAND_BPS, RateBook
from corridor.core.money import Money, exponent, format_minor, parse_minor

_RATE_PLACES = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class FeeRule:
    corridor: str  # "IN-KE": send country, receive country
    currency: str  # the send currency the fee is charged in
    fixed: int  # minor units
    percent_bps: int
    min: int
    max: int


@dataclass(frozen=True, slots=True)
class Tariff:
    """What a quote is priced from (hub.yaml's `quotes`, `fx` and `fees`): how long a quote
    holds, the mid rates and the hub's margin under them, and the fee of each corridor."""

    quote_ttl_s: int
    fx_margin_bps: int
    fx_rates: dict[tuple[str, str], Decimal]  # (base, quote) -> mid rate
    fees: dict[str, FeeRule]  # corridor -> its fee
    # Live rates (corridor.core.fx): older than this many seconds, a rate prices nothing;
    # None: rates never go stale. A pushed rate moving more than `fx_band_bps` from the
    # current one waits for a second operator.
    fx_max_age_s: int | None = None
    fx_band_bps: int = DEFAULT_BAND_BPS


@dataclass(frozen=True, slots=True)
class Quote:
    id: str
    partner_id: str
    receive_partner_id: str
    corridor: str
    send: Money
    receive: Money
    fee: Money
    fx_margin: Money
    rate: Decimal  # customer rate: receive units per send unit
    mid_rate: Decimal
    destination_country: str
    payout_method: str
    created_at: datetime
    expires_at: datetime
    fx_rate_id: int | None = None  # the stored rate it was priced on; None: hub.yaml's

    @property
    def total(self) -> Money:
        """What the send partner's float is debited: the send amount plus the fee."""
        return self.send + self.fee

    def check_usable(self, partner_id: str, now: datetime) -> None:
        if partner_id != self.partner_id:
            # Another partner's quote is answered as unknown: its existence is not disclosed.
            raise InvalidInput(f"quote {self.id} not found", code="quote_not_found")
        if now >= self.expires_at:
            raise InvalidInput(f"quote {self.id} expired at {self.expires_at:%Y-%m-%dT%H:%M:%SZ}",
                               code="quote_expired")


def price_quote(
    tariff: Tariff,
    sender: Counterparty,
    receiver: Counterparty | None,
    *,
    send_currency: str,
    receive_currency: str,
    destination_country: str,
    payout_method: str,
    send_amount: str | None,
    receive_amount: str | None,
    quote_id: str,
    now: datetime,
    rates: RateBook | None = None,
) -> Quote:
    """Price a transfer from `sender` to `receiver`, the receive partner the site routes
    `destination_country` and `receive_currency` to (None: no route), or raise
    InvalidInput with the code partners see. `rates` are the live rates (without them,
    hub.yaml's); a stale one raises 503 `rates_stale`."""
    if (send_amount is None) == (receive_amount is None):
        raise InvalidInput("give exactly one of send_amount and receive_amount",
                           code="amount_required")
    exponent(send_currency)
    exponent(receive_currency)
    if send_currency not in sender.currencies:
        raise InvalidInput(f"{sender.id} does not send {send_currency}",
                           code="currency_not_supported")
    if receiver is None:
        raise InvalidInput(f"no payout in {destination_country} in {receive_currency}",
                           code="no_route")
    if payout_method not in receiver.payout_methods:
        raise InvalidInput(f"no {payout_method} payout in {destination_country}", code="no_route")
    corridor = f"{sender.country}-{receiver.country}"
    fee_rule = tariff.fees.get(corridor)
    if fee_rule is None:
        raise InvalidInput(f"corridor {corridor} is not open", code="no_route")
    if fee_rule.currency != send_currency:
        raise InvalidInput(f"corridor {corridor} is priced in {fee_rule.currency}",
                           code="currency_not_supported")
    rate_id = None
    if rates is None:
        mid = mid_rate(tariff, send_currency, receive_currency)
    else:
        mid, used = rates.mid(send_currency, receive_currency, now)
        rate_id = used.id if used is not None else None
    rate = customer_rate(tariff, mid, send_currency, receive_currency)
    # minor units of receive per minor unit of send
    scale = minor_scale(send_currency, receive_currency)
    if send_amount is not None:
        send_minor = parse_minor(send_amount, send_currency)
        receive_minor = receive_for_send(send_minor, rate, scale)
    else:
        receive_minor = parse_minor(receive_amount, receive_currency)
        send_minor = send_for_receive(receive_minor, rate, scale)
    if send_minor <= 0 or receive_minor <= 0:
        raise InvalidInput("the amount is too small to pay out", code="amount_too_small")
    limit = sender.limits.per_transfer
    if limit is not None and send_minor > limit:
        raise InvalidInput(
            f"{format_minor(send_minor, send_currency)} {send_currency} is above the per-transfer "
            f"limit of {format_minor(limit, send_currency)}",
            code="limit_exceeded",
        )
    limit = receiver.limits.per_transfer
    if limit is not None and receive_minor > limit:
        raise InvalidInput(
            f"{format_minor(receive_minor, receive_currency)} {receive_currency} is above "
            f"{receiver.id}'s per-payout limit", code="limit_exceeded")
    at_mid = Decimal(receive_minor) / (mid * scale)
    fx_margin = max(0, send_minor - int(at_mid.to_integral_value(ROUND_HALF_EVEN)))
    return Quote(
        id=quote_id,
        partner_id=sender.id,
        receive_partner_id=receiver.id,
        corridor=corridor,
        send=Money(send_minor, send_currency),
        receive=Money(receive_minor, receive_currency),
        fee=Money(fee_for(fee_rule, send_minor), send_currency),
        fx_margin=Money(fx_margin, send_currency),
        rate=rate,
        mid_rate=mid,
        destination_country=destination_country,
        payout_method=payout_method,
        created_at=now,
        expires_at=now + timedelta(seconds=tariff.quote_ttl_s),
        fx_rate_id=rate_id,
    )


def customer_rate(tariff: Tariff, mid: Decimal, send_currency: str,
                  receive_currency: str) -> Decimal:
    """The rate the customer gets: the mid rate less the hub's margin, truncated."""
    if send_currency == receive_currency:
        return mid
    margin = Decimal(10000 - tariff.fx_margin_bps) / 10000
    return (mid * margin).quantize(_RATE_PLACES, rounding=ROUND_DOWN)


def minor_scale(send_currency: str, receive_currency: str) -> Decimal:
    """Minor units of the receive currency per minor unit of the send currency at 1:1."""
    return Decimal(10) ** (exponent(receive_currency) - exponent(send_currency))


def receive_for_send(send_minor: int, rate: Decimal, scale: Decimal) -> int:
    """What a send amount pays out (rounded down to the receive currency's minor unit)."""
    return int((send_minor * rate * scale).to_integral_value(ROUND_FLOOR))


def send_for_receive(receive_minor: int, rate: Decimal, scale: Decimal) -> int:
    """What a receive amount costs (rounded up to the send currency's minor unit)."""
    return int((receive_minor / (rate * scale)).to_integral_value(ROUND_CEILING))


def mid_rate(tariff: Tariff, base: str, quote: str) -> Decimal:
    if base == quote:
        return Decimal(1)
    rates = tariff.fx_rates
    if (base, quote) in rates:
        return rates[(base, quote)]
    if (quote, base) in rates:
        return (1 / rates[(quote, base)]).quantize(_RATE_PLACES, rounding=ROUND_HALF_EVEN)
    raise InvalidInput(f"no FX rate for {base}/{quote}", code="no_route")


def fee_for(rule: FeeRule, send_minor: int) -> int:
    percent = (Decimal(send_minor) * rule.percent_bps / 10000).to_integral_value(ROUND_HALF_UP)
    return min(max(rule.fixed + int(percent), rule.min), rule.max)
