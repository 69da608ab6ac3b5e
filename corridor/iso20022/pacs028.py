"""pacs.028.001.03 FIToFIPaymentStatusRequest: the hub asking a receive partner what
became of a payout left UNKNOWN (or still pending)."""

from __future__ import annotations

from typing import Any

from corridor.core.ids import new_id
from corridor.iso20022.schema import namespace, serialise
from corridor.iso20022.tree import document, find, message_id, now_iso, sub, transfer_id

MESSAGE = "pacs.028.001.03"
NS = namespace(MESSAGE)


def build(transfer_id_: str, original_message: str = "pacs.008.001.08") -> bytes:
    root, msg = document(NS, "FIToFIPmtStsReq")
    hdr = sub(msg, NS, "GrpHdr")
    sub(hdr, NS, "MsgId", message_id(new_id()))
    sub(hdr, NS, "CreDtTm", now_iso())
    ident = message_id(transfer_id_)
    tx = sub(msg, NS, "TxInf")
    org = sub(tx, NS, "OrgnlGrpInf")
    sub(org, NS, "OrgnlMsgId", ident)  # the payout's pacs.008 MsgId (one per payout)
    sub(org, NS, "OrgnlMsgNmId", original_message)
    sub(tx, NS, "OrgnlInstrId", ident)
    sub(tx, NS, "OrgnlEndToEndId", ident)
    sub(tx, NS, "OrgnlTxId", ident)
    return serialise(MESSAGE, root)


def read(root: Any) -> tuple[str, str | None]:
    """(the request's MsgId, the transfer it asks about)."""
    msg = root[0]
    tx = msg.find(f"{{{NS}}}TxInf")
    asked = None
    if tx is not None:
        asked = transfer_id(find(tx, NS, "OrgnlTxId") or find(tx, NS, "OrgnlEndToEndId"))
    return find(msg, NS, "GrpHdr/MsgId") or "", asked
