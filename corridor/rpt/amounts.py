"""Amounts for people: minor units with the currency's decimals and thousands grouped."""

from __future__ import annotations

from corridor.core.money import format_minor


def grouped(minor: int, currency: str) -> str:
    """`12345600` KES -> "123,456.00"; wire amounts stay `format_minor` (no grouping)."""
    text = format_minor(minor, currency)
    sign = "-" if text.startswith("-") else ""
    whole, dot, frac = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{frac}"
