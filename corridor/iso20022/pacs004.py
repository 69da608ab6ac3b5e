"""pacs.004.001.09 PaymentReturn: a bank receive partner gives a completed payout back
(after a recall, or of its own accord: account closed, beneficiary unknown...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corridor.core.money import Money, format_minor, parse_minor
from corridor.iso20022.schema import namespace, serialise
from corridor.iso20022.tree import document, find, message_id, now_iso, sub, transfer_id

MESSAGE = "pacs.004.001.09"
NS = namespace(MESSAGE)


@dataclass(frozen=True, slots=True)
class PaymentReturn:
    message_id: str
    transfer_id: str | None  # from OrgnlTxId, else OrgnlEndToEndId
    return_id: str | None  # RtrId: the partner's id for the return (a repeat has the same)
    amount: Money
    reason: str | None  # RtrRsnInf/Rsn/Cd or Prtry (ExternalReturnReason1Code)
    info: str | None  # RtrRsnInf/AddtlInf


def build(*, transfer_id_: str, return_id: str, amount: Money, reason: str | None,
          info: str | None, msg_id: str | None = None,
          end_to_end_id: str | None = None) -> bytes:
    """A return of one payout. The original identifiers are the transfer id's (the hub's
    pacs.008), or a send bank's own EndToEndId when it sent the pacs.008 (`end_to_end_id`):
    the transfer id's 32 hex digits are then RtrId's start."""
    root, msg = document(NS, "PmtRtr")
    hdr = sub(msg, NS, "GrpHdr")
    sub(hdr, NS, "MsgId", msg_id or message_id(return_id)[:35])
    sub(hdr, NS, "CreDtTm", now_iso())
    sub(hdr, NS, "NbOfTxs", "1")
    sub(sub(hdr, NS, "SttlmInf"), NS, "SttlmMtd", "INDA")
    tx = sub(msg, NS, "TxInf")
    sub(tx, NS, "RtrId", return_id[:35])
    ident = message_id(transfer_id_)
    if end_to_end_id is None:
        org = sub(tx, NS, "OrgnlGrpInf")
        sub(org, NS, "OrgnlMsgId", ident)
        sub(org, NS, "OrgnlMsgNmId", "pacs.008.001.08")
        sub(tx, NS, "OrgnlInstrId", ident)
        sub(tx, NS, "OrgnlEndToEndId", ident)
        sub(tx, NS, "OrgnlTxId", ident)
    elif end_to_end_id:
        sub(tx, NS, "OrgnlEndToEndId", end_to_end_id[:35])
    sub(tx, NS, "RtrdIntrBkSttlmAmt", format_minor(amount.minor, amount.currency),
        Ccy=amount.currency)
    if reason or info:
        rsn = sub(tx, NS, "RtrRsnInf")
        if reason:
            sub(sub(rsn, NS, "Rsn"), NS, "Cd", reason)
        if info:
            for start in range(0, min(len(info), 105 * 3), 105):
                sub(rsn, NS, "AddtlInf", info[start:start + 105])
    return serialise(MESSAGE, root)


def read(root: Any) -> PaymentReturn:
    """The first return a (valid) pacs.004 carries. Its amount is refused
    (`invalid_amount`) with more decimals than its currency has."""
    msg = root[0]
    tx = msg.find(f"{{{NS}}}TxInf")
    if tx is None:
        from corridor.iso20022.errors import MessageRefused

        raise MessageRefused("the pacs.004 returns no transaction (TxInf)",
                             code="no_transaction", status=422)
    amount_el = tx.find(f"{{{NS}}}RtrdIntrBkSttlmAmt")
    currency = amount_el.get("Ccy")
    parts = tx.findall(f"{{{NS}}}RtrRsnInf/{{{NS}}}AddtlInf")
    return PaymentReturn(
        message_id=find(msg, NS, "GrpHdr/MsgId") or "",
        transfer_id=transfer_id(find(tx, NS, "OrgnlTxId") or find(tx, NS, "OrgnlEndToEndId")),
        return_id=find(tx, NS, "RtrId"),
        amount=Money(parse_minor(amount_el.text.strip(), currency), currency),
        reason=find(tx, NS, "RtrRsnInf/Rsn/Cd") or find(tx, NS, "RtrRsnInf/Rsn/Prtry"),
        info="".join(p.text or "" for p in parts) or None)
