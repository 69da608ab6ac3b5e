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
from corridor.core.money import format_minor
from corridor.iso20022 import CONTENT_TYPE, pacs002, pacs008, pacs028, parse
from corridor.iso20022.codes import NOT_FOUND, reason_for_failure
from corridor.iso20022.tree import message_id
from corridor.sim.payouts import Payout

__all__ = ["CONTENT_TYPE", "PATH", "callback_body", "not_found", "payout_request", "refusal",
           "status_report", "status_request", "xml"]

PATH = "/v1/iso20022/pacs.002"
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


def callback_body(callback: ReceiverCallback) -> bytes:
    """A receiver callback as the pacs.002 an ISO partner sends the hub."""
    tid = callback.transfer_id
    status = str(callback.status)
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
