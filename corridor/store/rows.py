"""Rows of TXN's tables as Python values, and the conversions between the domain's
`Quote` and its stored form.

A row a group inserts is a `TableRow`: its fields are the table's columns, named once
here, and `Connection.insert_rows` is the one place that turns them into an INSERT, so
no caller builds a tuple that must follow a column list. (msgspec structs: one is built about as
fast as a plain tuple, in C, and `gc=False` keeps thousands of them per group out of the
cyclic collector; their fields hold only strings and numbers.)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar, NamedTuple

import msgspec

from corridor.core.money import Money
from corridor.core.pricing import Quote
from corridor.core.times import parse_time, rfc3339


class TableRow(msgspec.Struct, array_like=True, gc=False):
    """A row of `table`: the fields are its columns, in the order they are written."""

    table: ClassVar[str]


def columns(kind: type[TableRow]) -> tuple[str, ...]:
    return kind.__struct_fields__


class QuoteRow(TableRow):
    table: ClassVar[str] = "quotes"

    id: str
    partner_id: str
    receive_partner_id: str
    corridor: str
    send_minor: int
    send_currency: str
    receive_minor: int
    receive_currency: str
    fee_minor: int
    fx_margin_minor: int
    rate: str
    mid_rate: str
    destination_country: str
    payout_method: str
    created_at: str
    expires_at: str


QUOTE_COLUMNS = columns(QuoteRow)


def quote_row(q: Quote) -> QuoteRow:
    return QuoteRow(
        q.id, q.partner_id, q.receive_partner_id, q.corridor, q.send.minor, q.send.currency,
        q.receive.minor, q.receive.currency, q.fee.minor, q.fx_margin.minor, str(q.rate),
        str(q.mid_rate), q.destination_country, q.payout_method, rfc3339(q.created_at),
        rfc3339(q.expires_at),
    )


def _minor(value: object) -> int:
    """A minor-units column: the driver hands back an int, typed only as a row field."""
    return value if isinstance(value, int) else int(str(value))


def row_quote(r: tuple[object, ...]) -> Quote:
    """A `Quote` from a row selected with `QUOTE_COLUMNS`."""
    send_currency, receive_currency = str(r[5]), str(r[7])
    return Quote(
        id=str(r[0]), partner_id=str(r[1]), receive_partner_id=str(r[2]), corridor=str(r[3]),
        send=Money(_minor(r[4]), send_currency),
        receive=Money(_minor(r[6]), receive_currency),
        fee=Money(_minor(r[8]), send_currency),
        fx_margin=Money(_minor(r[9]), send_currency),
        rate=Decimal(str(r[10])), mid_rate=Decimal(str(r[11])),
        destination_country=str(r[12]), payout_method=str(r[13]),
        created_at=parse_time(str(r[14])), expires_at=parse_time(str(r[15])),
    )


class TransferRow(TableRow):
    """One row of `transfers`. `sender`, `beneficiary` and `screening` are JSON text."""

    table: ClassVar[str] = "transfers"

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


TRANSFER_COLUMNS = columns(TransferRow)
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


class EventRow(TableRow):
    """One event of the ordered feed RPT follows."""

    table: ClassVar[str] = "events"

    id: str
    type: str
    transfer_id: str | None
    at: str
    data: str  # JSON text


class EntryRow(TableRow):
    """One leg of a journal on the ledger."""

    table: ClassVar[str] = "entries"

    journal_id: str
    transfer_id: str | None
    kind: str
    state: str  # pending | posted
    account: str
    currency: str
    amount: int
    at: str


class BalanceMove(msgspec.Struct, gc=False):
    """What one entry adds to its account's running balances in `accounts` (summed per
    account when the group is written)."""

    account: str
    currency: str
    posted: int
    pending: int


class IdempotencyRow(TableRow):
    """The answer kept under a partner's Idempotency-Key."""

    table: ClassVar[str] = "idempotency"

    partner_id: str
    key: str
    body_hash: str
    status: int
    response: str
    created_at: str


class NewMessage(TableRow):
    """An outbox message as it is queued (read back as an `OutboxRow`)."""

    table: ClassVar[str] = "outbox"

    kind: str
    transfer_id: str | None
    partner_id: str
    payload: str  # JSON text
    due_at: str
    created_at: str
    state: str = "pending"
    attempts: int = 0
    last_error: str | None = None


class FlagRow(TableRow):
    """A contradiction a receive partner reported, for a person to reconcile."""

    table: ClassVar[str] = "reconciliation"

    transfer_id: str
    kind: str
    hub_status: str
    partner_status: str
    partner_reference: str | None
    detail: str
    action: str
    at: str


class PayoutRow(TableRow):
    """A transfer paid out: at most one per transfer (the store's unique key)."""

    table: ClassVar[str] = "payouts"

    transfer_id: str
    journal_id: str
    at: str


class FundingRow(TableRow):
    """A send partner's prefunding deposit."""

    table: ClassVar[str] = "fundings"

    partner_id: str
    reference: str
    currency: str
    amount: int
    journal_id: str
    at: str


class DecisionRow(TableRow):
    """An analyst's decision on a transfer held for compliance."""

    table: ClassVar[str] = "compliance_decisions"

    transfer_id: str
    decision: str
    analyst: str
    note: str | None
    at: str


class ReturnRow(TableRow):
    """A completed payout given back: at most one per transfer (the store's unique key)."""

    table: ClassVar[str] = "returns"

    transfer_id: str
    journal_id: str
    partner_id: str  # the receive partner that gave it back
    return_reference: str | None  # its own id for the return
    code: str | None
    reason: str
    source: str  # what brought it: callback, recall, pacs.004, ...
    at: str


class RecallRow(TableRow):
    """A send partner's recall of a completed transfer: one per transfer."""

    table: ClassVar[str] = "recalls"

    transfer_id: str
    partner_id: str
    reason: str
    status: str  # REQUESTED, FORWARDED, REFUSED or RETURNED
    requested_at: str
    answered_at: str | None = None
    answer: str | None = None
