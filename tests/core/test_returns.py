"""The return rule (core.returns): the journal balances, the fee is kept, the FX margin and
the rest of the send amount go back to the float, the settlement account gives back what
it was credited."""

from datetime import UTC, datetime
from decimal import Decimal

from corridor.core.ledger import imbalance, transfer_legs
from corridor.core.money import Money
from corridor.core.pricing import Quote
from corridor.core.returns import return_legs, return_terms


def quote(send: int, fee: int, margin: int, receive: int, cur: str = "KES") -> Quote:
    now = datetime.now(UTC)
    return Quote(id="q", partner_id="payfast", receive_partner_id="mobicash",
                 corridor="IN-KE", send=Money(send, "INR"), receive=Money(receive, cur),
                 fee=Money(fee, "INR"), fx_margin=Money(margin, "INR"),
                 rate=Decimal("1.5"), mid_rate=Decimal("1.51"), destination_country="KE",
                 payout_method="wallet", created_at=now, expires_at=now)


def test_a_return_balances_and_keeps_only_the_fee() -> None:
    for q in (quote(1000_00, 55_00, 7_53, 1518_08), quote(1, 0, 0, 1, "JPY"),
              quote(999_99, 10_00, 0, 10, "BHD")):
        legs = return_legs(q)
        assert imbalance(legs) == {}
        net: dict[str, int] = {}
        for leg in transfer_legs(q) + legs:
            net[leg.account] = net.get(leg.account, 0) + leg.amount
        fee = q.fee.minor
        assert {a: v for a, v in net.items() if v} == (
            {"float:payfast:INR": -fee, "revenue:fee:INR": fee} if fee else {})
        terms = return_terms(q.send.minor, fee, q.fx_margin.minor, q.receive.minor)
        assert (terms.float_credit, terms.fee_kept, terms.settlement_debit) == (
            q.send.minor, fee, q.receive.minor)
