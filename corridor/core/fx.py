"""Live FX rates: what a pushed rate must look like, which rate a quote uses, when a rate
is too old to price on, and when a move needs a second operator (four eyes).

A rate is a mid rate (quote-currency units per base-currency unit) with the source that
gave it and the time the source gave it. The store keeps every rate pushed
(`corridor.store.fx`); the newest confirmed rate of a pair is the one quotes use, in
either direction (a KES/INR quote uses 1 / INR/KES). hub.yaml's static `fx.rates` are
used only for pairs that have never had a pushed rate; they carry no time, so when
`fx.max_age_seconds` is set they count as stale: a hub that promises live rates never
prices on a number nobody has vouched for recently.

Pure: no I/O; the times are the caller's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal

from corridor.core.errors import Conflict, InvalidInput, Unavailable
from corridor.core.money import is_currency

SITE_SOURCE = "hub.yaml"  # the source of a site's static rate
DEFAULT_BAND_BPS = 500  # a move of more than 5% needs a second operator
_PLACES = Decimal("0.00000001")
_PAIR = re.compile(r"^([A-Z]{3})/([A-Z]{3})$")
# Up to 12 digits each side of the point: a rate, never an exponent, NaN or infinity.
_RATE = re.compile(r"^-?[0-9]{1,12}(?:\.[0-9]{1,12})?$")
_SOURCE = re.compile(r"^[A-Za-z0-9._:@/-]{1,64}$")

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Rate:
    base: str
    quote: str
    rate: Decimal  # mid rate: quote units per base unit
    source: str  # who gave it: "hub.yaml", "treasury", "refinitiv:INR=" ...
    at: datetime | None  # when the source gave it; None for hub.yaml's static rates
    id: int | None = None  # its row in the store; None for hub.yaml's

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"


def parse_pair(text: str) -> Pair:
    """"INR/KES" as ("INR", "KES"), or 422 `invalid_pair`."""
    m = _PAIR.match(text.strip().upper() if isinstance(text, str) else "")
    if m is None or not all(is_currency(c) for c in m.groups()) or m[1] == m[2]:
        raise InvalidInput(f"pair {str(text)[:20]!r} must read BASE/QUOTE with two different "
                           "ISO 4217 currencies, e.g. INR/KES", code="invalid_pair")
    return m[1], m[2]


def parse_rate(text: object) -> Decimal:
    """A pushed rate as a Decimal: a plain decimal string above zero, or 422 with
    `invalid_rate` (not a number: "1,54", "1e3", "NaN", a float in JSON) or
    `rate_not_positive` (zero or negative)."""
    if not isinstance(text, str) or not _RATE.match(text.strip()):
        raise InvalidInput(f"rate {str(text)[:40]!r} is not a decimal number such as "
                           "\"1.5412\"", code="invalid_rate")
    value = Decimal(text.strip())
    if value <= 0:
        raise InvalidInput(f"rate {text.strip()} must be above zero", code="rate_not_positive")
    return value


def parse_source(text: str) -> str:
    if not _SOURCE.match(text):
        raise InvalidInput(f"source {text[:40]!r} must be 1-64 of A-Z a-z 0-9 . _ : @ / -",
                           code="invalid_source")
    return text


def move_bps(old: Decimal, new: Decimal) -> int:
    """How far `new` is from `old`, in basis points of `old`, rounded up."""
    return int((abs(new - old) * 10000 / old).to_integral_value(ROUND_CEILING))


def check_move(current: Rate | None, new: Decimal, band_bps: int) -> int | None:
    """The move in bps when it is beyond the band (it needs a second operator), else None.
    A pair's first rate has nothing to move from."""
    if current is None:
        return None
    moved = move_bps(current.rate, new)
    return moved if moved > band_bps else None


def check_newer(current: Rate | None, at: datetime) -> None:
    """A rate given before the pair's current one is refused: quotes use the newest."""
    if current is not None and current.at is not None and at < current.at:
        raise Conflict(f"{current.pair} has a newer rate (given {current.at.isoformat()}) "
                       f"than this one ({at.isoformat()})", code="rate_not_newer")


def check_confirmer(proposed_by: str, confirmer: str) -> None:
    if not confirmer.strip():
        raise InvalidInput("name the operator who confirms", code="operator_required")
    if confirmer.strip() == proposed_by:
        raise Conflict(f"{confirmer} proposed this rate; a second operator must confirm it",
                       code="same_operator")


@dataclass(frozen=True, slots=True)
class RateBook:
    """The rates quotes are priced from: the newest live rate of each pair pushed to the
    store, over hub.yaml's static ones; `max_age_s` None: rates never go stale."""

    site: Mapping[Pair, Decimal]
    live: Mapping[Pair, Rate]
    max_age_s: int | None = None

    def find(self, base: str, quote: str) -> tuple[Rate, bool] | None:
        """The rate of base/quote as stored, and whether it is stored the other way round
        (then the mid rate is its inverse); None when the pair has no rate at all."""
        for pair, inverse in (((base, quote), False), ((quote, base), True)):
            if pair in self.live:
                return self.live[pair], inverse
        for pair, inverse in (((base, quote), False), ((quote, base), True)):
            if pair in self.site:
                return Rate(pair[0], pair[1], self.site[pair], SITE_SOURCE, None), inverse
        return None

    def stale(self, rate: Rate, now: datetime) -> bool:
        if self.max_age_s is None:
            return False
        return rate.at is None or (now - rate.at).total_seconds() > self.max_age_s

    def mid(self, base: str, quote: str, now: datetime) -> tuple[Decimal, Rate | None]:
        """The mid rate of base/quote and the rate it comes from (None for a currency to
        itself), or 422 `no_route` (no rate), 503 `rates_stale` (older than max_age)."""
        if base == quote:
            return Decimal(1), None
        found = self.find(base, quote)
        if found is None:
            raise InvalidInput(f"no FX rate for {base}/{quote}", code="no_route")
        rate, inverse = found
        if self.stale(rate, now):
            given = ("has no time (hub.yaml)" if rate.at is None
                     else f"was given {rate.at:%Y-%m-%dT%H:%M:%SZ}")
            raise Unavailable(f"the {rate.pair} rate {given}, older than the "
                              f"{self.max_age_s} s this hub prices on: no quote until the "
                              "treasury sends a new one", code="rates_stale")
        mid = (1 / rate.rate).quantize(_PLACES, rounding=ROUND_HALF_EVEN) if inverse else rate.rate
        return mid, rate
