"""The receive-partner simulator's ISO 20022 mode: a bank that takes payouts as pacs.008,
answers with pacs.002, answers pacs.028 status requests with pacs.002, and reports each
outcome to the hub as a signed pacs.002 POSTed to EIG's `/v1/iso20022/pacs.002`.

The books are the JSON mode's (`corridor.sim.payouts`): a pacs.008 is read into the same
payout request, so idempotency (by Idempotency-Key and by payout id), the wallet book and
every fault knob behave the same. Every message it builds or takes is validated against
its XSD; a message it cannot take is answered with a pacs.002 RJCT.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from corridor.api.receive_partner import PayoutParty, PayoutRequest
from corridor.api.schemas import ReceiverCallback
from corridor.core.errors import CorridorError
from corridor.core.money import Money, format_minor, parse_minor
from corridor.iso20022 import CONTENT_TYPE, camt056, pacs002, pacs004, pacs008, pacs028, parse
from corridor.iso20022.codes import NOT_FOUND, reason_for_failure
from corridor.iso20022.tree import message_id
from corridor.sim.payouts import Payout, Payouts

__all__ = ["CONTENT_TYPE", "PATH", "RETURN_PATH", "callback_body", "not_found",
           "payout_request", "recall_answer", "recall_request", "refusal", "return_reason",
           "route", "status_report", "status_request", "xml"]

PATH = "/v1/iso20022/pacs.002"
RETURN_PATH = "/v1/iso20022/pacs.004"
# The simulator's statuses as pacs.002 transaction statuses.
TX_STATUS = {"PENDING": "ACSP", "SUCCESS": "ACSC", "FAILURE": "RJCT"}
_encode = msgspec.json.Encoder().encode


def xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=CONTENT_TYPE)


def refusal(exc: CorridorError, original: str) -> web.Response:
    return xml(pacs002.refusal(exc.code, exc.detail, original_message=original), exc.status)


def payout_request(body: bytes) -> bytes:
    """The JSON payout request a pacs.008 asks for, as the books take it (deterministic:
    a retry of the same payout is the same request, whatever its CreDtTm)."""
    _, root = parse(body, pacs008.MESSAGE)
    ct = pacs008.read(root)
    request = PayoutRequest(
        payout_id=ct.transfer_id,
        amount=format_minor(ct.amount.minor, ct.amount.currency),
        currency=ct.amount.currency,
        payout_method=ct.payout_method,  # type: ignore[arg-type]  # checked by the books
        beneficiary=PayoutParty(name=ct.creditor.name, account=ct.creditor.account),
        sender=PayoutParty(name=ct.debtor.name, country=ct.debtor.country),
        purpose=ct.purpose)
    return _encode(request)


def status_report(payout: Payout, status: str, reason: str | None) -> bytes:
    """A pacs.002 about `payout` in the simulator's `status` (PENDING, SUCCESS, FAILURE)."""
    tid = payout.request.payout_id
    return pacs002.build(
        status=TX_STATUS[status], transfer_id_=tid, original_message_id=message_id(tid),
        original_message=pacs008.MESSAGE,
        reason=reason_for_failure(reason) if status == "FAILURE" else None,
        info=reason if status == "FAILURE" else None,
        partner_reference=payout.answer.partner_reference)


def route(callback: ReceiverCallback) -> str:
    """Where an ISO partner sends a callback on EIG: a return is a pacs.004."""
    return RETURN_PATH if callback.status == "RETURNED" else PATH


def callback_body(callback: ReceiverCallback, payouts: Payouts | None = None) -> bytes:
    """A receiver callback as the message an ISO partner sends the hub: a pacs.002 (an
    outcome; RJCT about the camt.056 for a refused recall), or a pacs.004 (a return, of the
    whole payout as the books hold it)."""
    tid = callback.transfer_id
    status = str(callback.status)
    if status == "RETURNED":
        payout = payouts.get(tid) if payouts is not None else None
        assert payout is not None, f"no payout {tid} to return"
        currency = payout.request.currency
        return pacs004.build(
            transfer_id_=tid, return_id=callback.return_reference or f"R-{tid[-12:]}",
            amount=Money(parse_minor(payout.request.amount, currency), currency),
            reason=return_reason(callback.reason), info=callback.reason)
    if status == "RECALL_REFUSED":
        return pacs002.build(
            status="RJCT", transfer_id_=tid, original_message_id=camt056.case_id(tid),
            original_message=camt056.MESSAGE, reason="NARR", info=callback.reason)
    return pacs002.build(
        status=TX_STATUS.get(status, "ACSP"), transfer_id_=tid,
        original_message_id=message_id(tid), original_message=pacs008.MESSAGE,
        reason=reason_for_failure(callback.reason) if status == "FAILURE" else None,
        info=callback.reason if status == "FAILURE" else None,
        partner_reference=callback.partner_reference)


def not_found(transfer_id: str | None) -> bytes:
    return pacs002.build(status="RJCT", transfer_id_=transfer_id, original_message_id=None,
                         original_message=pacs008.MESSAGE, reason=NOT_FOUND,
                         info="no such payout", proprietary=True)


def status_request(body: bytes) -> str | None:
    """The transfer a pacs.028 asks about."""
    _, root = parse(body, pacs028.MESSAGE)
    return pacs028.read(root)[1]


def return_reason(text: str | None) -> str:
    """The ExternalReturnReason1Code a simulated return is sent with."""
    words = (text or "").lower()
    if "recalled" in words:
        return "FOCR"  # FollowingCancellationRequest
    if "closed" in words:
        return "AC04"
    return "NARR"


def recall_request(body: bytes) -> tuple[str, str | None, str | None]:
    """(case id, transfer, reason) of a camt.056."""
    _, root = parse(body, camt056.MESSAGE)
    return camt056.read(root)


def recall_answer(transfer_id: str, accepted: bool, reason: str | None = None) -> bytes:
    """The pacs.002 about a camt.056: ACTC (the pacs.004 follows) or RJCT (refused)."""
    return pacs002.build(
        status="ACTC" if accepted else "RJCT", transfer_id_=transfer_id,
        original_message_id=camt056.case_id(transfer_id), original_message=camt056.MESSAGE,
        reason=None if accepted else "NARR", info=reason)
