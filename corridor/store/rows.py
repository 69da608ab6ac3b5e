"""Rows of TXN's tables as Python values, and the conversions between the domain's
`Quote` and its stored form."""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from operator import attrgetter
from typing import NamedTuple

from corridor.core.money import Money
from corridor.core.pricing import Quote
from corridor.core.times import parse_time, rfc3339

QUOTE_COLUMNS = (
    "id", "partner_id", "receive_partner_id", "corridor", "send_minor", "send_currency",
    "receive_minor", "receive_currency", "fee_minor", "fx_margin_minor", "rate", "mid_rate",
    "destination_country", "payout_method", "created_at", "expires_at",
)


def quote_row(q: Quote) -> tuple[object, ...]:
    return (
        q.id, q.partner_id, q.receive_partner_id, q.corridor, q.send.minor, q.send.currency,
        q.receive.minor, q.receive.currency, q.fee.minor, q.fx_margin.minor, str(q.rate),
        str(q.mid_rate), q.destination_country, q.payout_method, rfc3339(q.created_at),
        rfc3339(q.expires_at),
    )


def row_quote(r: tuple[object, ...]) -> Quote:
    send_currency, receive_currency = str(r[5]), str(r[7])
    return Quote(
        id=str(r[0]), partner_id=str(r[1]), receive_partner_id=str(r[2]), corridor=str(r[3]),
        send=Money(int(r[4]), send_currency),  # type: ignore[arg-type]
        receive=Money(int(r[6]), receive_currency),  # type: ignore[arg-type]
        fee=Money(int(r[8]), send_currency),  # type: ignore[arg-type]
        fx_margin=Money(int(r[9]), send_currency),  # type: ignore[arg-type]
        rate=Decimal(str(r[10])), mid_rate=Decimal(str(r[11])),
        destination_country=str(r[12]), payout_method=str(r[13]),
        created_at=parse_time(str(r[14])), expires_at=parse_time(str(r[15])),
    )


@dataclass(slots=True)
class TransferRow:
    """One row of `transfers`. `sender`, `beneficiary` and `screening` are JSON text."""

    id: str
    partner_id: str
    reference: str
    quote_id: str
    receive_partner_id: str
    corridor: str
    status: str
    code: str | None
    reason: str | None
    send_minor: int
    send_currency: str
    receive_minor: int
    receive_currency: str
    fee_minor: int
    fx_margin_minor: int
    rate: str
    destination_country: str
    payout_method: str
    sender: str
    beneficiary: str
    purpose: str
    source_of_funds: str
    sender_key: str
    screening: str | None
    created_at: str
    updated_at: str

    def values(self) -> tuple[object, ...]:
        return _transfer_values(self)  # type: ignore[no-any-return]


TRANSFER_COLUMNS = tuple(f.name for f in fields(TransferRow))
_transfer_values = attrgetter(*TRANSFER_COLUMNS)
TRANSFER_SELECT = f"SELECT {', '.join(TRANSFER_COLUMNS)} FROM transfers"


class Stored(NamedTuple):
    """A response kept under an idempotency key. (A named tuple: the writer makes one per
    new key, and a frozen dataclass costs several times more to build.)"""

    body_hash: str
    status: int
    response: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    kind: str
    transfer_id: str | None
    partner_id: str
    payload: str
    state: str
    attempts: int
    due_at: str
    last_error: str | None
    give_up_at: str | None = None


OUTBOX_COLUMNS = (
    "id", "kind", "transfer_id", "partner_id", "payload", "state", "attempts", "due_at",
    "last_error", "give_up_at",
)
