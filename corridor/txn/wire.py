"""Shaping stored rows into the wire structs of `corridor.api.schemas` and event data."""

from __future__ import annotations

import msgspec

from corridor.api import schemas as api
from corridor.core.money import format_minor
from corridor.core.pricing import Quote
from corridor.core.times import rfc3339
from corridor.store.reads import HistoryEntry
from corridor.store.rows import TransferRow

encode = msgspec.json.Encoder().encode
decode = msgspec.json.decode


class _Payee(msgspec.Struct):
    """The two fields of a stored beneficiary that a partner sees (others are skipped)."""

    name: str
    account: str


_payee = msgspec.json.Decoder(_Payee).decode


def quote_wire(q: Quote) -> api.Quote:
    return api.Quote(
        id=q.id, send_amount=q.send.text, send_currency=q.send.currency,
        receive_amount=q.receive.text, receive_currency=q.receive.currency,
        fee=q.fee.text, fee_currency=q.fee.currency, total=q.total.text, rate=str(q.rate),
        destination_country=q.destination_country, payout_method=q.payout_method,
        created_at=rfc3339(q.created_at), expires_at=rfc3339(q.expires_at),
    )


def transfer_wire(row: TransferRow, history: list[HistoryEntry] | None = None,
                  beneficiary: api.Beneficiary | None = None) -> api.Transfer:
    """A stored transfer as partners see it. A caller that holds the beneficiary as a
    struct passes it, and `row.beneficiary` is not decoded again."""
    payee: api.Beneficiary | _Payee = (
        _payee(row.beneficiary) if beneficiary is None else beneficiary)
    return api.Transfer(
        id=row.id, reference=row.reference, status=row.status,  # type: ignore[arg-type]  # core's Status values are the wire's Literal
        quote_id=row.quote_id,
        send_amount=format_minor(row.send_minor, row.send_currency),
        send_currency=row.send_currency,
        receive_amount=format_minor(row.receive_minor, row.receive_currency),
        receive_currency=row.receive_currency,
        fee=format_minor(row.fee_minor, row.send_currency), rate=row.rate,
        destination_country=row.destination_country, payout_method=row.payout_method,
        beneficiary_name=payee.name, beneficiary_account=payee.account,
        created_at=row.created_at, updated_at=row.updated_at, reason=row.reason,
        code=row.code,
        history=None if history is None else [
            api.StatusChange(**h)  # type: ignore[arg-type]  # the feed holds only Status values
            for h in history
        ],
    )


def status_event(row: TransferRow, status: str, previous: str | None, code: str | None,
                 reason: str | None) -> str:
    """The `transfer.status` event data of docs/internal-api.md, as JSON text."""
    return encode({
        "status": status, "previous": previous, "send_partner": row.partner_id,
        "receive_partner": row.receive_partner_id, "corridor": row.corridor,
        "reference": row.reference, "send_amount": row.send_minor,
        "send_currency": row.send_currency, "receive_amount": row.receive_minor,
        "receive_currency": row.receive_currency, "fee": row.fee_minor,
        "fx_margin": row.fx_margin_minor, "rate": row.rate, "created_at": row.created_at,
        "code": code, "reason": reason,
        "screening": None if row.screening is None else decode(row.screening),
        "sender_key": row.sender_key,
    }).decode()
