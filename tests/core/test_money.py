import pytest

from corridor.core.errors import InvalidInput
from corridor.core.money import Money, format_minor, parse_minor


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("1500.00", "INR", 150000), ("1500", "INR", 150000), ("0.5", "KES", 50),
     ("1500", "JPY", 1500), ("1.234", "BHD", 1234), ("0", "USD", 0)],
)
def test_parse_uses_the_currency_exponent(text: str, currency: str, minor: int) -> None:
    assert parse_minor(text, currency) == minor
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("text", "currency"),
    [("10.005", "INR"), ("1.5", "JPY"), ("1.2345", "BHD"), ("-1.00", "INR"), ("1e3", "INR"),
     ("01.00", "INR"), (" 1.00", "INR"), ("1,000.00", "INR"), ("", "INR"), ("NaN", "INR"),
     ("9" * 19, "INR")],
)
def test_excess_precision_and_junk_are_refused_not_rounded(text: str, currency: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_minor(text, currency)
    assert err.value.code == "invalid_amount"


def test_numbers_are_not_amounts() -> None:
    with pytest.raises(InvalidInput, match="decimal string"):
        parse_minor(1500.0, "INR")


def test_unknown_currency() -> None:
    with pytest.raises(InvalidInput) as err:
        Money(1, "XYZ")
    assert err.value.code == "unknown_currency"


def test_format_round_trips() -> None:
    for currency in ("INR", "JPY", "BHD"):
        for minor in (0, 1, 99, 100, 123456789):
            assert parse_minor(format_minor(minor, currency), currency) == minor
    assert format_minor(-150, "INR") == "-1.50"
    assert str(Money(1234, "BHD")) == "1.234"


def test_money_refuses_mixing_currencies() -> None:
    with pytest.raises(ValueError, match="currency mismatch"):
        Money(1, "INR") + Money(1, "KES")
