"""pacs.002.001.10 FIToFIPaymentStatusReport: the answer to a pacs.008 or pacs.028, the
asynchronous outcome of a payout, and Corridor's refusal of a message it cannot take
(RJCT with the ISO reason code of `corridor.iso20022.codes`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corridor.core.ids import new_id
from corridor.iso20022.codes import STATUSES, iso_reason
from corridor.iso20022.schema import namespace, serialise
from corridor.iso20022.tree import document, find, message_id, now_iso, sub, transfer_id

MESSAGE = "pacs.002.001.10"
NS = namespace(MESSAGE)


@dataclass(frozen=True, slots=True)
class StatusReport:
    message_id: str
    status: str  # TxSts (or GrpSts when the report is about a whole message)
    transfer_id: str | None  # from OrgnlTxId, else OrgnlEndToEndId
    original_message_id: str | None = None
    original_message: str | None = None  # OrgnlMsgNmId
    reason: str | None = None  # StsRsnInf/Rsn/Cd or Prtry
    info: str | None = None  # StsRsnInf/AddtlInf
    partner_reference: str | None = None  # AcctSvcrRef

    @property
    def outcome(self) -> str | None:
        """completed, failed or pending; None for a status Corridor does not know."""
        return STATUSES.get(self.status)


def build(*, status: str, transfer_id_: str | None, original_message_id: str | None,
          original_message: str, reason: str | None = None, info: str | None = None,
          partner_reference: str | None = None, proprietary: bool = False,
          created: str | None = None, msg_id: str | None = None,
          end_to_end_id: str | None = None, tx_id: str | None = None) -> bytes:
    """A status report about one payout (`transfer_id_`), or, without one, about a whole
    message (a refusal of something that could not be read). The original identifiers
    are the transfer id's (`message_id`) unless the original message had its own
    (`end_to_end_id`, `tx_id`: a bank's pacs.008; "" leaves one out)."""
    root, msg = document(NS, "FIToFIPmtStsRpt")
    hdr = sub(msg, NS, "GrpHdr")
    sub(hdr, NS, "MsgId", msg_id or message_id(new_id()))
    sub(hdr, NS, "CreDtTm", created or now_iso())
    if transfer_id_ is None:
        grp = sub(msg, NS, "OrgnlGrpInfAndSts")
        sub(grp, NS, "OrgnlMsgId", (original_message_id or "NONREF")[:35])
        sub(grp, NS, "OrgnlMsgNmId", original_message)
        sub(grp, NS, "GrpSts", status)
        _reason(grp, reason, info, proprietary)
        return serialise(MESSAGE, root)
    tx = sub(msg, NS, "TxInfAndSts")
    if original_message_id:
        org = sub(tx, NS, "OrgnlGrpInf")
        sub(org, NS, "OrgnlMsgId", original_message_id[:35])
        sub(org, NS, "OrgnlMsgNmId", original_message)
    ident = message_id(transfer_id_)
    own = end_to_end_id is not None or tx_id is not None
    if not own:
        sub(tx, NS, "OrgnlInstrId", ident[:35])
    if (e2e := ident if end_to_end_id is None else end_to_end_id):
        sub(tx, NS, "OrgnlEndToEndId", e2e[:35])
    if (txid := ident if tx_id is None and not own else tx_id):
        sub(tx, NS, "OrgnlTxId", txid[:35])
    sub(tx, NS, "TxSts", status)
    _reason(tx, reason, info, proprietary)
    if partner_reference:
        sub(tx, NS, "AcctSvcrRef", partner_reference[:35])
    return serialise(MESSAGE, root)


def refusal(code: str, detail: str | None, *, original_message: str,
            original_message_id: str | None = None, transfer_id_: str | None = None) -> bytes:
    """The pacs.002 RJCT that answers a refused message: Corridor's problem `code` mapped
    to its ISO reason code, the code itself and the detail as additional information."""
    info = f"{code}: {detail}" if detail else code
    return build(status="RJCT", transfer_id_=transfer_id_,
                 original_message_id=original_message_id, original_message=original_message,
                 reason=iso_reason(code), info=info)


def _reason(el: Any, reason: str | None, info: str | None, proprietary: bool) -> None:
    if reason is None and info is None:
        return
    rsn = sub(el, NS, "StsRsnInf")
    if reason is not None:
        sub(sub(rsn, NS, "Rsn"), NS, "Prtry" if proprietary else "Cd", reason)
    if info:
        for start in range(0, min(len(info), 105 * 3), 105):
            sub(rsn, NS, "AddtlInf", info[start:start + 105])


def read(root: Any) -> StatusReport:
    """The first status a (valid) pacs.002 reports: a transaction's, else its group's."""
    msg = root[0]
    ident = find(msg, NS, "GrpHdr/MsgId") or ""
    tx = msg.find(f"{{{NS}}}TxInfAndSts")
    if tx is not None:
        return StatusReport(
            message_id=ident, status=find(tx, NS, "TxSts") or "",
            transfer_id=transfer_id(find(tx, NS, "OrgnlTxId")
                                    or find(tx, NS, "OrgnlEndToEndId")),
            original_message_id=find(tx, NS, "OrgnlGrpInf/OrgnlMsgId"),
            original_message=find(tx, NS, "OrgnlGrpInf/OrgnlMsgNmId"),
            reason=find(tx, NS, "StsRsnInf/Rsn/Cd") or find(tx, NS, "StsRsnInf/Rsn/Prtry"),
            info=_info(tx), partner_reference=find(tx, NS, "AcctSvcrRef"))
    grp = msg.find(f"{{{NS}}}OrgnlGrpInfAndSts")
    if grp is None:
        return StatusReport(message_id=ident, status="", transfer_id=None)
    return StatusReport(
        message_id=ident, status=find(grp, NS, "GrpSts") or "", transfer_id=None,
        original_message_id=find(grp, NS, "OrgnlMsgId"),
        original_message=find(grp, NS, "OrgnlMsgNmId"),
        reason=find(grp, NS, "StsRsnInf/Rsn/Cd") or find(grp, NS, "StsRsnInf/Rsn/Prtry"),
        info=_info(grp))


def _info(el: Any) -> str | None:
    parts = el.findall(f"{{{NS}}}StsRsnInf/{{{NS}}}AddtlInf")
    return "".join(p.text or "" for p in parts) or None
