"""Returns: what the ledger does when a completed payout comes back. The one home of the
rule (docs/returns.md says the same in words).

A return undoes the payout at the rate of its own quote, never at today's rate:
- the receive partner's settlement account is debited the receive amount it gave back;
- the conversion is undone at the original mid rate: `fx:position` moves back in both
  currencies by exactly what the transfer moved, so the hub keeps no FX position from it;
- the FX margin is given back (`revenue:fx` debited): the hub earns nothing on a
  conversion that did not stick;
- the fee is KEPT (`revenue:fee` untouched): the hub did the work it was paid for
  (screening, pricing, the payout itself), and the return is the receive side's doing,
  not the hub's;
- the send partner's float is credited the send amount (send - margin converted back,
  plus the margin), so with the fee kept it ends `fee` lower than before the transfer.

The same terms apply whatever brought the return (a receiver callback, an ISO 20022
pacs.004, the answer to a recall). A change of policy is a change here and in the docs,
and RPT's settlement and reconciliation follow, as both call `return_terms`.
"""

from __future__ import annotations

from typing import NamedTuple

from corridor.core.ledger import (
    Leg,
    fee_revenue_account,
    float_account,
    fx_position_account,
    fx_revenue_account,
    settlement_account,
)
from corridor.core.pricing import Quote

FEE_REFUNDED = False
FX_MARGIN_REFUNDED = True


class ReturnTerms(NamedTuple):
    """What a return moves, in minor units of the transfer's currencies."""

    float_credit: int  # send currency: given back to the send partner's float
    fee_kept: int  # send currency: stays as hub revenue
    margin_refunded: int  # send currency: FX revenue given back
    settlement_debit: int  # receive currency: taken back from the receive partner


def return_terms(send: int, fee: int, fx_margin: int, receive: int) -> ReturnTerms:
    """The terms of returning a transfer of these amounts (RPT calls this with the amounts
    of its feed, TXN through `return_legs` with the quote)."""
    margin = fx_margin if FX_MARGIN_REFUNDED else 0
    refund_fee = fee if FEE_REFUNDED else 0
    return ReturnTerms(
        float_credit=send - fx_margin + margin + refund_fee,
        fee_kept=fee - refund_fee,
        margin_refunded=margin,
        settlement_debit=receive,
    )


def return_legs(quote: Quote) -> list[Leg]:
    """The posted journal of a transfer's return."""
    return return_moves(quote.partner_id, quote.send.currency, quote.receive_partner_id,
                        quote.receive.currency, quote.send.minor, quote.fee.minor,
                        quote.fx_margin.minor, quote.receive.minor)


def return_moves(send_partner: str, s: str, receive_partner: str, r: str, send: int,
                 fee: int, fx_margin: int, receive: int) -> list[Leg]:
    """What returns of these amounts move, account by account; it balances per currency
    (send - margin goes back through the FX position, the receive amount comes out of the
    settlement account). Linear in the amounts, so RPT applies it to sums."""
    terms = return_terms(send, fee, fx_margin, receive)
    legs = [
        Leg(settlement_account(receive_partner, r), r, -terms.settlement_debit),
        Leg(fx_position_account(r), r, receive),
        Leg(fx_position_account(s), s, -(send - fx_margin)),
        Leg(fx_revenue_account(s), s, -terms.margin_refunded),
        Leg(fee_revenue_account(s), s, -(fee - terms.fee_kept)),
        Leg(float_account(send_partner, s), s, terms.float_credit),
    ]
    return [leg for leg in legs if leg.amount]
