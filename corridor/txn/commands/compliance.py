"""The analyst's decision on a transfer held by the sanctions screen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from corridor.core.errors import Conflict
from corridor.core.ids import new_id
from corridor.core.states import Status
from corridor.core.times import rfc3339
from corridor.site.model import Partner
from corridor.store import Changes, Needs, TransferRow, UnitOfWork
from corridor.txn.commands.floats import funds_and_limits, reserve
from corridor.txn.commands.transitions import change, own_transfer
from corridor.txn.wire import encode


@dataclass(slots=True)
class Decide:
    """An analyst releases or rejects a transfer on compliance hold. Release re-checks
    funds and limits, so it may still end REJECTED."""

    partners: dict[str, Partner]
    transfer_id: str
    decision: str  # "release" | "reject"
    analyst: str
    note: str | None
    now: datetime

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)

    def apply(self, b: UnitOfWork, ch: Changes) -> TransferRow:
        row = own_transfer(b, None, self.transfer_id)
        if row.status != Status.COMPLIANCE_HOLD:
            raise Conflict(f"transfer {row.id} is {row.status}, not on compliance hold",
                           code="invalid_state")
        at = rfc3339(self.now)
        ch.decision(row.id, self.decision, self.analyst, self.note, at)
        ch.event(new_id(), "compliance.decision", row.id, at, encode({
            "transfer_id": row.id, "decision": self.decision, "analyst": self.analyst,
            "note": self.note}).decode())
        if self.decision == "reject":
            return change(b, ch, row, Status.REJECTED, at, "compliance_rejected",
                          self.note or "rejected by compliance")
        quote = b.quote(row.quote_id)
        assert quote is not None
        day = self.now.date().isoformat()
        refusal = funds_and_limits(b, self.partners[row.partner_id], quote, row.sender_key, day)
        if refusal is not None:
            return change(b, ch, row, Status.REJECTED, at, *refusal)
        after = change(b, ch, row, Status.ACCEPTED, at)
        reserve(ch, b, row, quote, day, at)
        return after
