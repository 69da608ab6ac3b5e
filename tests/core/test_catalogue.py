"""The catalogue's bounds agree with `price_quote` for any rate, limits and currencies (of
0, 2 and 3 decimals): a quote at each bound is priced, one minor unit beyond is refused."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from corridor.core.catalogue import bounds
from corridor.core.counterparty import Counterparty, Limits
from corridor.core.errors import InvalidInput
from corridor.core.money import format_minor
from corridor.core.pricing import FeeRule, Tariff, customer_rate, minor_scale, price_quote

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def world(send_cur: str, recv_cur: str, mid: Decimal, send_limit: int, recv_limit: int
          ) -> tuple[Tariff, Counterparty, Counterparty]:
    tariff = Tariff(quote_ttl_s=600, fx_margin_bps=150, fx_rates={(send_cur, recv_cur): mid},
                    fees={"AA-BB": FeeRule("AA-BB", send_cur, 0, 0, 0, 0)})
    sender = Counterparty("s", "AA", (send_cur,), (), Limits(per_transfer=send_limit))
    receiver = Counterparty("r", "BB", (recv_cur,), ("wallet",), Limits(per_transfer=recv_limit))
    return tariff, sender, receiver


def accepted(tariff: Tariff, sender: Counterparty, receiver: Counterparty, side: str,
             minor: int) -> bool:
    send_cur, recv_cur = sender.currencies[0], receiver.currencies[0]
    amount = format_minor(minor, send_cur if side == "send" else recv_cur)
    try:
        price_quote(tariff, sender, receiver, send_currency=send_cur, receive_currency=recv_cur,
                    destination_country="BB", payout_method="wallet",
                    send_amount=amount if side == "send" else None,
                    receive_amount=amount if side == "receive" else None,
                    quote_id="q", now=NOW)
    except InvalidInput as exc:
        assert exc.code in ("limit_exceeded", "amount_too_small"), exc.code
        return False
    return True


PAIRS = [("INR", "KES"), ("KES", "INR"), ("USD", "JPY"), ("JPY", "USD"), ("BHD", "INR"),
         ("INR", "BHD"), ("EUR", "UGX"), ("UGX", "KWD")]


def cases(n: int = 400) -> list[tuple[tuple[str, str], Decimal, int, int]]:
    """Rates from 0.0001 to 5000 (6 places) and limits from one minor unit to 10^12,
    drawn from a fixed seed so that a failure repeats."""
    rng = random.Random(17)
    out = []
    for _ in range(n):
        mid = Decimal(rng.randint(100, 5_000_000_000)) / 1_000_000
        limits = [10 ** rng.randint(0, 12) + rng.randint(0, 999) for _ in range(2)]
        out.append((rng.choice(PAIRS), mid, limits[0], limits[1]))
    return out


@pytest.mark.parametrize(("pair", "mid", "send_limit", "recv_limit"), cases())
def test_bounds_are_exactly_what_a_quote_accepts(pair: tuple[str, str], mid: Decimal,
                                                 send_limit: int, recv_limit: int) -> None:
    tariff, sender, receiver = world(*pair, mid, send_limit, recv_limit)
    rate = customer_rate(tariff, mid, *pair)
    if rate <= 0:
        return
    edges = bounds(rate, minor_scale(*pair), send_limit, recv_limit)
    if edges is None:  # nothing fits: the smallest payable amount is above a limit
        assert not accepted(tariff, sender, receiver, "receive", 1) or \
            not accepted(tariff, sender, receiver, "send", send_limit)
        return
    for side, lo, hi in (("send", edges.send_min, edges.send_max),
                         ("receive", edges.receive_min, edges.receive_max)):
        assert accepted(tariff, sender, receiver, side, lo), (side, lo)
        assert accepted(tariff, sender, receiver, side, hi), (side, hi)
        assert not accepted(tariff, sender, receiver, side, hi + 1), (side, hi + 1)
        if lo > 1:
            assert not accepted(tariff, sender, receiver, side, lo - 1), (side, lo - 1)


def test_the_demo_corridor_in_figures() -> None:
    tariff, _, _ = world("INR", "KES", Decimal("1.5412"), 50_000_000, 100_000_000)
    rate = customer_rate(tariff, Decimal("1.5412"), "INR", "KES")
    edges = bounds(rate, minor_scale("INR", "KES"), 50_000_000, 100_000_000)
    assert edges is not None
    # 500,000.00 INR buys 759,041.00 KES, under MobiCash's 1,000,000.00
    assert (edges.send_min, edges.send_max) == (1, 50_000_000)
    assert (edges.receive_min, edges.receive_max) == (1, 75_904_100)


@pytest.mark.parametrize("limit", [1, 2])
def test_a_limit_below_the_smallest_payable_amount_leaves_nothing(limit: int) -> None:
    # 1 UGX (no decimals) buys less than 0.001 KWD: a send amount must be large to pay out.
    rate = Decimal("0.00008")
    assert bounds(rate, minor_scale("UGX", "KWD"), limit, 10**9) is None
