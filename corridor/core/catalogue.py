"""The catalogue's amounts: the smallest and largest send and receive amounts a quote
accepts on one corridor, computed with the very rounding `price_quote` applies
(`receive_for_send`, `send_for_receive`), so that the catalogue and the quote never
disagree: at a bound the quote is priced, one minor unit beyond it is refused.

- From a send amount s: accepted when receive_for_send(s) >= 1 (else `amount_too_small`),
  s <= the send partner's per-transfer limit and receive_for_send(s) <= the receive
  partner's (else `limit_exceeded`).
- From a receive amount r: accepted when r >= 1, r <= the receive partner's limit and
  send_for_receive(r) <= the send partner's.

Both depend on the rate: they hold for the rate a quote made now would use.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from corridor.core.pricing import receive_for_send, send_for_receive


@dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive bounds in minor units; None when no amount at all is accepted."""

    send_min: int
    send_max: int
    receive_min: int
    receive_max: int


def bounds(rate: Decimal, scale: Decimal, send_limit: int, receive_limit: int) -> Bounds | None:
    """The bounds on one corridor at customer `rate` (`scale`: minor units of receive per
    minor unit of send at 1:1), under the send partner's and the receive partner's
    per-transfer limits (each the partner's limit, or the API's ceiling when it has none)."""
    def receive(s: int) -> int:
        return receive_for_send(s, rate, scale)

    def send(r: int) -> int:
        return send_for_receive(r, rate, scale)

    # The smallest send amount that pays out at least one minor unit.
    send_min = max(1, send(1))
    while send_min > 1 and receive(send_min - 1) >= 1:  # Decimal division, checked
        send_min -= 1
    # The largest send amount whose payout stays within the receive partner's limit:
    # first from the arithmetic, then stepped onto the exact edge with the same rounding.
    send_max = min(send_limit, send(receive_limit + 1) - 1)
    while send_max < send_limit and receive(send_max + 1) <= receive_limit:
        send_max += 1
    while send_max >= send_min and receive(send_max) > receive_limit:
        send_max -= 1
    # From a receive amount: one minor unit up to what the largest send amount buys.
    receive_max = min(receive_limit, receive(send_limit))
    while receive_max >= 1 and send(receive_max) > send_limit:
        receive_max -= 1
    if send_min > send_max or receive_max < 1:
        return None
    return Bounds(send_min, send_max, 1, receive_max)
