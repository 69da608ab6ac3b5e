"""Wire schemas of the partner API (docs/design.md, Partner API), as msgspec structs.

Requests refuse unknown fields and wrong types; amounts travel as decimal strings and are
turned into `Money` by the core, which refuses excess precision. EIG validates every body
against these before forwarding; TXN decodes the same structs, so both ends agree.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Str = Annotated[str, msgspec.Meta(min_length=1, max_length=140)]
ShortStr = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
Country = Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
Amount = Annotated[str, msgspec.Meta(pattern=r"^(0|[1-9][0-9]{0,17})(\.[0-9]{1,6})?$")]
Reference = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
Date = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
PayoutMethod = Literal["wallet", "bank", "cash"]
Status = Literal[
    "RECEIVED", "ACCEPTED", "SUBMITTED", "COMPLETED", "FAILED", "REJECTED",
    "COMPLIANCE_HOLD", "UNKNOWN", "CANCELLED", "RETURNED",
]


class Request(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class QuoteRequest(Request):
    send_currency: Currency
    receive_currency: Currency
    destination_country: Country
    payout_method: PayoutMethod
    send_amount: Amount | None = None  # exactly one of send_amount, receive_amount
    receive_amount: Amount | None = None


class Quote(msgspec.Struct, kw_only=True):
    id: str
    send_amount: str
    send_currency: str
    receive_amount: str
    receive_currency: str
    fee: str
    fee_currency: str
    total: str  # send_amount + fee: what the send partner's float is debited
    rate: str  # customer rate: receive units per send unit, margin included
    destination_country: str
    payout_method: str
    created_at: str
    expires_at: str


class Sender(Request):
    """Originator (FATF R.16): name, account or reference, and address or ID or date and
    place of birth; per-corridor rules in hub.yaml may require more."""

    name: Str
    account: ShortStr | None = None
    address: Str | None = None
    id_type: ShortStr | None = None
    id_number: ShortStr | None = None
    date_of_birth: Date | None = None
    place_of_birth: Str | None = None
    country: Country | None = None
    phone: ShortStr | None = None


class Beneficiary(Request):
    name: Str
    account: ShortStr  # wallet number or bank account
    bank_code: ShortStr | None = None
    phone: ShortStr | None = None
    address: Str | None = None
    country: Country | None = None


class TransferRequest(Request):
    quote_id: ShortStr
    reference: Reference  # the send partner's own reference, unique per partner
    sender: Sender
    beneficiary: Beneficiary
    purpose: ShortStr
    source_of_funds: ShortStr


class CancelRequest(Request):
    reason: Str | None = None


class RecallRequest(Request):
    """A send partner asks for a completed transfer's funds back."""

    reason: Str


class Recall(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where a recall stands: requested (not yet with the receive partner), forwarded
    (the receive partner has it), then refused or returned (the transfer is RETURNED)."""

    transfer_id: str
    status: Literal["REQUESTED", "FORWARDED", "REFUSED", "RETURNED"]
    reason: str
    requested_at: str
    answered_at: str | None = None
    answer: str | None = None  # why the receive partner refused, or its return reason


class StatusChange(msgspec.Struct, kw_only=True):
    status: Status
    at: str
    reason: str | None = None
    code: str | None = None


class Transfer(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    reference: str
    status: Status
    quote_id: str
    send_amount: str
    send_currency: str
    receive_amount: str
    receive_currency: str
    fee: str
    rate: str
    destination_country: str
    payout_method: str
    beneficiary_name: str
    beneficiary_account: str
    created_at: str
    updated_at: str
    reason: str | None = None
    code: str | None = None
    history: list[StatusChange] | None = None  # on GET of one transfer


class TransferPage(msgspec.Struct, kw_only=True):
    items: list[Transfer]
    next_cursor: str | None = None


class AccountValidationRequest(Request):
    destination_country: Country
    receive_currency: Currency
    payout_method: PayoutMethod
    account: ShortStr
    name: Str | None = None  # the name the sender expects; scored against the holder's


class AccountValidation(msgspec.Struct, kw_only=True, omit_defaults=True):
    account: str
    valid: bool
    holder_name: str | None = None
    name_match_score: int | None = None  # 0-100, when a name was given


class ReceiverCallback(Request):
    """A receive partner reports the outcome of a payout it was asked to make; after
    SUCCESS it may give the funds back (`RETURNED`, with a reason) or answer a recall it
    will not honour (`RECALL_REFUSED`)."""

    transfer_id: ShortStr
    status: Literal["SUCCESS", "FAILURE", "RETURNED", "RECALL_REFUSED"]
    partner_reference: ShortStr | None = None  # the receive partner's own id for the payout
    reason: Str | None = None
    at: str | None = None
    # RETURNED: the partner's own id for the return; the same id again is a repeat.
    return_reference: ShortStr | None = None
    code: ShortStr | None = None  # RETURNED: the partner's reason code, if it has one


class CallbackAck(msgspec.Struct, kw_only=True):
    transfer_id: str
    status: Status
    duplicate: bool = False


class SenderCallback(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What the hub POSTs to a send partner's callback_url on final states and on hold."""

    event_id: str
    transfer: Transfer
    recall: Recall | None = None  # when a recall was answered (refused, or returned)


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    """RFC 9457 problem details with Corridor's stable `code`."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    errors: list[dict[str, str]] | None = None


class Event(msgspec.Struct, kw_only=True):
    """One entry of TXN's ordered event feed (read by RPT by cursor)."""

    seq: int
    id: str
    type: str
    transfer_id: str | None
    at: str
    data: dict[str, object]


class EventPage(msgspec.Struct, kw_only=True):
    events: list[Event]
    next: int  # the cursor to pass as ?after= next time
