"""A bank send partner's side in ISO 20022: its pacs.008 read into the JSON calls the
partner API already has (a quote for its amount, then a transfer on that quote), and
every answer and sender callback written as the pacs.002 it hears. One engine serves both
paths: EIG relays these JSON calls to TXN exactly as if the partner had made them.

docs/iso20022.md maps each element."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from corridor.core.money import Money, format_minor, parse_minor
from corridor.iso20022 import pacs002, pacs004, pacs008
from corridor.iso20022.codes import STATE_STATUS, iso_reason
from corridor.iso20022.errors import MessageRefused
from corridor.iso20022.tree import message_id


def _need(value: str | None, what: str) -> str:
    if not value:
        raise MessageRefused(f"the pacs.008 has no {what}", code="invalid_request", status=422)
    return value


def quote_request(ct: pacs008.CreditTransfer) -> dict[str, Any]:
    """The quote a pacs.008 implies: its IntrBkSttlmAmt is what the send partner sends (in
    its own currency), CdtrAcct/Ccy the payout currency, Cdtr's country the destination,
    CdtrAcct/Tp/Prtry the payout method."""
    return {
        "send_currency": ct.amount.currency,
        "receive_currency": _need(ct.receive_currency, "CdtrAcct/Ccy (payout currency)"),
        "destination_country": _need(ct.creditor.country,
                                     "Cdtr/PstlAdr/Ctry (destination country)"),
        "payout_method": ct.payout_method,
        "send_amount": format_minor(ct.amount.minor, ct.amount.currency),
    }


def transfer_request(ct: pacs008.CreditTransfer, quote_id: str) -> dict[str, Any]:
    """The transfer: EndToEndId is the partner's reference, Dbtr the sender, Cdtr the
    beneficiary (FATF R.16 data), Purp the purpose, the "/SOF/" remittance line the
    source of funds."""
    d, c = ct.debtor, ct.creditor
    sender = {k: v for k, v in {
        "name": d.name, "account": d.account, "address": d.address, "country": d.country,
        "id_type": d.id_type, "id_number": d.id_number, "date_of_birth": d.date_of_birth,
        "place_of_birth": d.place_of_birth, "phone": d.phone}.items() if v}
    beneficiary = {k: v for k, v in {
        "name": c.name, "account": _need(c.account, "CdtrAcct (beneficiary account)"),
        "address": c.address, "country": c.country, "phone": c.phone}.items() if v}
    return {
        "quote_id": quote_id,
        "reference": _need(ct.end_to_end_id, "EndToEndId"),
        "sender": sender,
        "beneficiary": beneficiary,
        "purpose": _need(ct.purpose, "Purp (purpose)"),
        "source_of_funds": _need(ct.source_of_funds, "RmtInf/Ustrd /SOF/ line (source of "
                                 "funds)"),
    }


def transfer_status(transfer: dict[str, Any], *, msg_id: str | None = None,
                    original_message_id: str | None = None,
                    tx_id: str | None = None) -> bytes:
    """The pacs.002 a bank send partner hears about its transfer: TxSts from the transfer's
    state, Corridor's state (and reason) in AddtlInf, the transfer id (32 hex digits) as
    AcctSvcrRef, the partner's EndToEndId (its reference) as OrgnlEndToEndId."""
    state = str(transfer.get("status", ""))
    status = STATE_STATUS.get(state, "ACSP")
    code = transfer.get("code") or ("payout_failed" if state == "FAILED" else None)
    info = f"{state}: {transfer.get('reason')}" if transfer.get("reason") else state
    return pacs002.build(
        status=status, transfer_id_=str(transfer["id"]),
        original_message_id=original_message_id, original_message=pacs008.MESSAGE,
        reason=iso_reason(code or "cancelled") if status == "RJCT" else None, info=info,
        partner_reference=message_id(str(transfer["id"])), msg_id=msg_id,
        end_to_end_id=str(transfer.get("reference") or ""), tx_id=tx_id or "")


def sender_callback(payload: bytes) -> bytes:
    """A sender callback (the JSON payload TXN's outbox holds) as a pacs.002. Its MsgId
    derives from the callback's event id: a retry is the same message."""
    event = msgspec.json.decode(payload)
    transfer = event["transfer"]
    ident = hashlib.sha256(str(event["event_id"]).encode()).hexdigest()[:35]
    if transfer.get("status") == "RETURNED":
        return transfer_return(transfer, event.get("recall"), msg_id=ident)
    return transfer_status(transfer, msg_id=ident)


def transfer_return(transfer: dict[str, Any], recall: dict[str, Any] | None, *,
                    msg_id: str | None = None) -> bytes:
    """A RETURNED transfer as the pacs.004 its bank send partner hears: the send amount
    given back to its float (the fee is kept: docs/returns.md), FOCR after its recall,
    its RtrId the transfer id's 32 hex digits and "R"."""
    currency = str(transfer["send_currency"])
    amount = Money(parse_minor(str(transfer["send_amount"]), currency), currency)
    recalled = recall is not None and recall.get("status") == "RETURNED"
    return pacs004.build(
        transfer_id_=str(transfer["id"]), return_id=message_id(str(transfer["id"])) + "R",
        amount=amount, reason="FOCR" if recalled else "NARR",
        info=f"RETURNED: {transfer.get('reason') or 'returned by the receive partner'}",
        msg_id=msg_id, end_to_end_id=str(transfer.get("reference") or ""))


def read_status(raw: bytes) -> tuple[str, str | None, str, str | None]:
    """(MsgId, transfer id, Corridor state, the partner's reference) of a pacs.002 a send
    partner got from the hub (the simulator's inbox reads it with this)."""
    from corridor.iso20022.schema import parse
    from corridor.iso20022.tree import transfer_id

    message, root = parse(raw, pacs002.MESSAGE, pacs004.MESSAGE)
    if message == pacs004.MESSAGE:
        back = pacs004.read(root)
        tx = root[0].find(f"{{{pacs004.NS}}}TxInf")
        e2e = tx.findtext(f"{{{pacs004.NS}}}OrgnlEndToEndId") if tx is not None else None
        return back.message_id, transfer_id((back.return_id or "")[:32]), "RETURNED", e2e
    report = pacs002.read(root)
    state = (report.info or "").split(":", 1)[0]
    tid = transfer_id(report.partner_reference)
    msg = root[0]
    tx = msg.find(f"{{{pacs002.NS}}}TxInfAndSts")
    e2e = tx.findtext(f"{{{pacs002.NS}}}OrgnlEndToEndId") if tx is not None else None
    return report.message_id, tid, state, e2e
