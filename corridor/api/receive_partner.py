"""Wire shapes of the receive-partner protocol (docs/receive-partner-api.md), as msgspec
structs: what the hub sends a receive partner and what the partner answers. TXN's
`https-json` connector and the receive-partner simulator both speak them."""

from __future__ import annotations

from typing import Literal

import msgspec

from corridor.api.schemas import Amount, Country, Currency, PayoutMethod, ShortStr, Str

PayoutStatus = Literal["PENDING", "SUCCESS", "FAILURE"]


class ValidateRequest(msgspec.Struct, kw_only=True):
    account: ShortStr
    payout_method: PayoutMethod
    currency: Currency
    name: Str | None = None


class Validation(msgspec.Struct, kw_only=True, omit_defaults=True):
    account: str
    valid: bool
    holder_name: str | None = None
    name_match_score: int | None = None


class PayoutParty(msgspec.Struct, kw_only=True):
    name: Str
    account: ShortStr | None = None
    country: Country | None = None


class PayoutRequest(msgspec.Struct, kw_only=True):
    payout_id: ShortStr
    amount: Amount
    currency: Currency
    payout_method: PayoutMethod
    beneficiary: PayoutParty
    sender: PayoutParty
    purpose: ShortStr | None = None


class PayoutAnswer(msgspec.Struct, kw_only=True, omit_defaults=True):
    payout_id: str
    partner_reference: str
    status: PayoutStatus
    reason: str | None = None


RecallStatus = Literal["ACCEPTED", "REFUSED", "RETURNED"]


class RecallAsk(msgspec.Struct, kw_only=True):
    """The hub forwards a send partner's recall of a completed payout."""

    payout_id: ShortStr
    reason: Str


class RecallAnswer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """ACCEPTED: the partner will give the funds back (a `RETURNED` receiver callback
    follows) or refuse later (`RECALL_REFUSED`); REFUSED now, with `reason`; RETURNED: it
    gave them back in this answer (with `return_reference`)."""

    payout_id: str
    status: RecallStatus
    reason: str | None = None
    return_reference: str | None = None
