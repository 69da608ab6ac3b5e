"""Payouts: claiming accepted transfers for the payout worker (SUBMITTED before the
connector is called), and applying an outcome, whether the connector, a status query or
a receiver callback brought it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from corridor.api import schemas as api
from corridor.core import ledger
from corridor.core.errors import Conflict
from corridor.core.states import FINAL, Status
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, TransferRow, UnitOfWork
from corridor.store.rows import OutboxRow
from corridor.txn.commands.routing import route
from corridor.txn.commands.transitions import change, event_id, legs_of, routed_to


@dataclass(slots=True)
class ClaimPayouts:
    """Lease due payout messages and, in the same commit, move each ACCEPTED transfer to
    SUBMITTED before its connector is called: [(message, transfer, fresh)]. A transfer
    already SUBMITTED or UNKNOWN (a worker died mid-payout, or the outcome is awaited) comes
    with fresh=False: the worker asks the partner for its status instead. A message whose
    transfer was cancelled or finished meanwhile is closed. `pick` names the receive
    partner an ACCEPTED transfer goes to (the routing rule and the breakers,
    corridor.txn.routing); when it is another than the quote's, the payout is routed there
    before anything is sent."""

    now: datetime
    limit: int
    lease: timedelta
    pick: Callable[[TransferRow], tuple[str, str] | None] | None = None  # partner, why

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> list[tuple[OutboxRow, TransferRow, bool]]:
        at = rfc3339(self.now)
        rows = b.due_outbox("payout", at, self.limit)
        until = rfc3339(self.now + self.lease)
        b.load(Needs(transfers={r.transfer_id for r in rows if r.transfer_id}))
        out = []
        for r in rows:
            ch.outbox_state(r.id, r.state, r.attempts + 1, until, r.last_error)
            row = b.transfer(r.transfer_id) if r.transfer_id else None
            if row is None:
                continue
            if row.status == Status.ACCEPTED:
                to = self.pick(row) if self.pick is not None else None
                if to is not None and to[0] != row.receive_partner_id:
                    row = route(b, ch, row, to[0], to[1], at)
                out.append((r, change(b, ch, row, Status.SUBMITTED, at), True))
            elif row.status in (Status.SUBMITTED, Status.UNKNOWN):
                out.append((r, row, False))
            else:
                ch.close_outbox(row.id, "payout")
        return out


# What a person should do about each contradiction a receive partner can report.
CONTRADICTIONS = {
    (Status.FAILED, Status.COMPLETED): (
        "success_after_failure",
        "{partner} reports SUCCESS for a transfer the hub had already FAILED; the send "
        "partner's reservation was released and nothing was posted",
        "ask {partner} whether the beneficiary was credited; if so, have {partner} reverse "
        "the credit, or book the payout by hand and tell the send partner. The hub will not "
        "post it by itself.",
    ),
    (Status.COMPLETED, Status.FAILED): (
        "failure_after_success",
        "{partner} reports FAILURE for a transfer the hub had already COMPLETED and posted",
        "ask {partner} whether the beneficiary was credited; if not, reverse the posting by "
        "hand and tell the send partner.",
    ),
    # Money-wise a FAILURE then would book what the payout and its return already net to;
    # what needs a person is whether the partner's settlement holds the returned amount.
    (Status.RETURNED, Status.FAILED): (
        "failure_after_return",
        "{partner} reports FAILURE for a transfer it had paid out and then RETURNED; the "
        "hub's books hold the payout and its reversal by the return",
        "ask {partner} whether the beneficiary was ever credited, and check that the "
        "returned amount is in {partner}'s settlement; nothing in the hub's books needs "
        "reversing.",
    ),
}


@dataclass(slots=True)
class FinishPayout:
    """Apply a payout outcome (from the connector, a status query or a receiver callback).

    `completed` posts the legs and `failed` releases them, once: a repeat is acknowledged
    as a duplicate, and an outcome contradicting a final state is flagged for a person,
    never applied. `pending`, `unknown` and `not_found` leave a final state alone (an
    answer that arrives after the callback never moves a transfer back); `unknown` turns
    SUBMITTED into UNKNOWN; the next status query is due at `retry_at`."""

    transfer_id: str
    outcome: str  # completed | failed | pending | unknown | not_found
    reason: str | None
    now: datetime
    partner_id: str | None = None  # the receive partner, for a receiver callback
    retry_at: datetime | None = None
    partner_reference: str | None = None

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)

    def apply(self, b: UnitOfWork, ch: Changes) -> api.CallbackAck:
        row = routed_to(b, self.partner_id, self.transfer_id)
        at = rfc3339(self.now)
        status = Status(row.status)
        target = {"completed": Status.COMPLETED, "failed": Status.FAILED}.get(self.outcome)
        if target is None:
            if status in FINAL:
                return _ack(row)
            if self.outcome == "unknown" and status == Status.SUBMITTED:
                row = change(b, ch, row, Status.UNKNOWN, at, "partner_no_answer",
                             self.reason or "the receive partner did not answer")
            if self.retry_at is not None:
                ch.reschedule(row.id, "payout", rfc3339(self.retry_at))
            return _ack(row)
        if status == target:
            ch.close_outbox(row.id, "payout")
            return _ack(row, duplicate=True)
        if status in FINAL:
            self._contradiction(b, ch, row, status, target, at)
            return _ack(row)
        legs = legs_of(b, row)
        if target == Status.COMPLETED:
            if b.paid_out(row.id):
                raise Conflict(f"transfer {row.id} was already paid out", code="already_paid")
            after = change(b, ch, row, target, at)
            journal = event_id(row.id, "post")
            ch.journal(event_id(row.id, "release"), row.id, "release", "pending",
                       ledger.reversal(legs), at)
            ch.journal(journal, row.id, "post", "posted", legs, at)
            ch.payout(row.id, journal, at)
        else:
            after = change(b, ch, row, target, at, "payout_failed",
                           self.reason or "the receive partner could not pay out")
            ch.journal(event_id(row.id, "release"), row.id, "release", "pending",
                       ledger.reversal(legs), at)
        ch.close_outbox(row.id, "payout")
        return _ack(after)

    def _contradiction(self, b: UnitOfWork, ch: Changes, row: TransferRow, status: Status,
                       target: Status, at: str) -> None:
        found = CONTRADICTIONS.get((status, target))
        if found is None:
            return  # e.g. an outcome for a cancelled transfer: nothing was sent
        kind, detail, action = found
        if b.flagged(row.id, kind):
            return
        partner = row.receive_partner_id
        ch.flag(row.id, kind, str(status), "SUCCESS" if target == Status.COMPLETED
                else "FAILURE", self.partner_reference, detail.format(partner=partner),
                action.format(partner=partner), at)


def _ack(row: TransferRow, duplicate: bool = False) -> api.CallbackAck:
    return api.CallbackAck(transfer_id=row.id, status=row.status,  # type: ignore[arg-type]  # core's Status values are the wire's Literal
                           duplicate=duplicate)
