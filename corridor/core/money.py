"""Money: integer minor units with an ISO 4217 currency. No float anywhere.

On the wire an amount is a decimal string ("1500.00"). Parsing refuses more decimals than
the currency has: "10.005" INR is an error, never a rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from corridor.core.errors import InvalidInput

# ISO 4217 minor-unit exponents: the one table of them in the project.
EXPONENTS: dict[str, int] = {
    "AED": 2, "AUD": 2, "BDT": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0,
    "CNY": 2, "EGP": 2, "EUR": 2, "GBP": 2, "GHS": 2, "HKD": 2, "IDR": 2, "INR": 2,
    "JOD": 3, "JPY": 0, "KES": 2, "KRW": 0, "KWD": 3, "LKR": 2, "MAD": 2, "MXN": 2,
    "MYR": 2, "NGN": 2, "NPR": 2, "OMR": 3, "PHP": 2, "PKR": 2, "QAR": 2, "RWF": 0,
    "SAR": 2, "SGD": 2, "THB": 2, "TND": 3, "TZS": 2, "UGX": 0, "USD": 2, "VND": 0,
    "XAF": 0, "XOF": 0, "ZAR": 2, "ZMW": 2,
}

# The largest amount the partner API takes (EIG refuses more): far beyond any real
# transfer, yet well inside a 64-bit integer of minor units.
MAX_MINOR = 10**15

_TENS = tuple(10**e for e in range(max(EXPONENTS.values()) + 1))
_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,17})(?:\.([0-9]+))?$")


def exponent(currency: str) -> int:
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise InvalidInput(f"unknown currency {currency!r}", code="unknown_currency") from None


def is_currency(code: object) -> bool:
    return isinstance(code, str) and code in EXPONENTS


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str

    def __post_init__(self) -> None:
        exponent(self.currency)

    @classmethod
    def parse(cls, text: object, currency: str) -> Money:
        """Parse a wire amount such as "1500.00"; refuse excess precision and junk."""
        return cls(parse_minor(text, currency), currency)

    def __str__(self) -> str:
        return format_minor(self.minor, self.currency)

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"currency mismatch: {self.currency} and {other.currency}")

    @property
    def text(self) -> str:
        return format_minor(self.minor, self.currency)


def parse_minor(text: object, currency: str) -> int:
    exp = exponent(currency)
    if not isinstance(text, str):
        raise InvalidInput(
            f"amount must be a decimal string such as \"1500.00\", got {type(text).__name__}",
            code="invalid_amount",
        )
    match = _AMOUNT.match(text)
    if match is None:
        raise InvalidInput(f"amount {text[:40]!r} is not a decimal number", code="invalid_amount")
    whole, frac = match.group(1), match.group(2) or ""
    if len(frac) > exp:
        raise InvalidInput(
            f"amount {text!r} has {len(frac)} decimals; {currency} has {exp}",
            code="invalid_amount",
        )
    scale: int = 10**exp  # int ** int is typed Any (a negative exponent gives a float)
    return int(whole) * scale + (int(frac.ljust(exp, "0")) if exp else 0)


def format_minor(minor: int, currency: str) -> str:
    # Every reply and event formats a few amounts: a table lookup and padding by hand cost
    # half of a nested format spec (`:0{exp}d`).
    exp = EXPONENTS.get(currency)
    if exp is None:
        exp = exponent(currency)  # raises unknown_currency
    if not exp:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), _TENS[exp])
    digits = str(frac)
    return f"{sign}{whole}.{'0' * (exp - len(digits))}{digits}"
