"""camt.056.001.09 FIToFIPaymentCancellationRequest: the hub forwards a send partner's
recall of a completed payout to a bank receive partner. The bank answers with a pacs.002
about the camt.056 (ACTC/PDNG: it has the recall, a pacs.004 return or a refusal follows;
RJCT: refused, with its reason): camt.029, the standard resolution message, is not among
the schemas Corridor ships, so a later refusal is a pacs.002 RJCT whose original message
is the camt.056."""

from __future__ import annotations

from typing import Any

from corridor.core.money import Money, format_minor
from corridor.iso20022.schema import namespace, serialise
from corridor.iso20022.tree import document, find, message_id, now_iso, sub, transfer_id

MESSAGE = "camt.056.001.09"
NS = namespace(MESSAGE)


def case_id(transfer_id_: str) -> str:
    """One case (and cancellation) id per transfer's recall: a resend is the same."""
    return "R" + message_id(transfer_id_)[:34]


def build(*, transfer_id_: str, amount: Money, reason: str, hub_name: str,
          partner_name: str, partner_bic: str | None) -> bytes:
    root, msg = document(NS, "FIToFIPmtCxlReq")
    case = case_id(transfer_id_)
    asg = sub(msg, NS, "Assgnmt")
    sub(asg, NS, "Id", case)
    sub(sub(sub(sub(asg, NS, "Assgnr"), NS, "Agt"), NS, "FinInstnId"), NS, "Nm", hub_name[:140])
    fin = sub(sub(sub(asg, NS, "Assgne"), NS, "Agt"), NS, "FinInstnId")
    if partner_bic:
        sub(fin, NS, "BICFI", partner_bic)
    sub(fin, NS, "Nm", partner_name[:140])
    sub(asg, NS, "CreDtTm", now_iso())
    tx = sub(sub(msg, NS, "Undrlyg"), NS, "TxInf")
    sub(tx, NS, "CxlId", case)
    ident = message_id(transfer_id_)
    org = sub(tx, NS, "OrgnlGrpInf")
    sub(org, NS, "OrgnlMsgId", ident)
    sub(org, NS, "OrgnlMsgNmId", "pacs.008.001.08")
    sub(tx, NS, "OrgnlInstrId", ident)
    sub(tx, NS, "OrgnlEndToEndId", ident)
    sub(tx, NS, "OrgnlTxId", ident)
    sub(tx, NS, "OrgnlIntrBkSttlmAmt", format_minor(amount.minor, amount.currency),
        Ccy=amount.currency)
    rsn = sub(tx, NS, "CxlRsnInf")
    sub(sub(rsn, NS, "Rsn"), NS, "Cd", "CUST")  # requested by the (send partner's) customer
    for start in range(0, min(len(reason), 105 * 2), 105):
        sub(rsn, NS, "AddtlInf", reason[start:start + 105])
    return serialise(MESSAGE, root)


def read(root: Any) -> tuple[str, str | None, str | None]:
    """(case id, the transfer recalled, the reason's words)."""
    msg = root[0]
    tx = msg.find(f"{{{NS}}}Undrlyg/{{{NS}}}TxInf")
    if tx is None:
        return find(msg, NS, "Assgnmt/Id") or "", None, None
    parts = tx.findall(f"{{{NS}}}CxlRsnInf/{{{NS}}}AddtlInf")
    return (find(msg, NS, "Assgnmt/Id") or "",
            transfer_id(find(tx, NS, "OrgnlTxId") or find(tx, NS, "OrgnlEndToEndId")),
            "".join(p.text or "" for p in parts) or None)
