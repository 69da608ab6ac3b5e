"""Returns and recalls: a completed payout that comes back, and a send partner asking for
it back (docs/returns.md).

`BookReturn` is the one entry point for a return, whichever way it arrived (a JSON
receiver callback `RETURNED`, the answer to a recall, an ISO 20022 pacs.004): the transfer
moves from COMPLETED to RETURNED with its reason, the return's journal (the rule is
`core.returns`) is posted once, and the send partner hears it by sender callback. A return
for a transfer that is not COMPLETED, or a second one, is refused and flagged for a person
to reconcile; the flag is written even though the return is refused, so the command
hands its refusal back (`Outcome.refusal`) for the caller to raise after the commit.

`RequestRecall` records a send partner's recall and queues it (`recall` outbox messages)
for the recall pump (`corridor.txn.recalls`), which hands it to the receive partner's
connector (`Connector.request_recall`); `AnswerRecall` applies what the receive partner
answered: forwarded (the return follows), or refused (the send partner hears it by sender
callback, the transfer stays COMPLETED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from corridor.api import schemas as api
from corridor.core.errors import Conflict, CorridorError
from corridor.core.ids import new_id
from corridor.core.returns import return_legs
from corridor.core.states import CANCELLABLE, Status
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, TransferRow, UnitOfWork
from corridor.store.rows import RecallRow, ReturnRow
from corridor.txn.commands.idempotency import Reply, replay
from corridor.txn.commands.transitions import change, event_id, notify, routed_to, sent_by
from corridor.txn.wire import encode

RETURN_CODE = "payout_returned"  # the transfer's code once RETURNED, unless a recall asked
RECALLED_CODE = "recalled"
OPEN_RECALL = frozenset({"REQUESTED", "FORWARDED"})

# What a person should do about each return the hub refuses to book.
REFUSED_RETURNS = {
    "second_return": (
        "{partner} reports a second return ({reference}) for a transfer it had already "
        "returned; nothing was booked",
        "ask {partner} whether it gave the funds back twice; if so, have it reverse the "
        "second return. The hub books a transfer's return once.",
    ),
    "return_not_completed": (
        "{partner} reports a return for a transfer the hub holds as {status}, not "
        "COMPLETED; nothing was booked",
        "ask {partner} whether the beneficiary was ever credited and what it gave back; "
        "settle the difference by hand and tell the send partner.",
    ),
}


@dataclass(slots=True)
class Outcome:
    """A return's answer, and the refusal to raise once the commit (with its flag) is in."""

    ack: api.CallbackAck
    refusal: CorridorError | None = None

    def result(self) -> api.CallbackAck:
        if self.refusal is not None:
            raise self.refusal
        return self.ack


def recall_wire(r: RecallRow) -> api.Recall:
    return api.Recall(transfer_id=r.transfer_id, status=r.status,  # type: ignore[arg-type]  # the store holds only the Literal's values
                      reason=r.reason, requested_at=r.requested_at,
                      answered_at=r.answered_at, answer=r.answer)


def _ack(row: TransferRow, duplicate: bool = False) -> api.CallbackAck:
    return api.CallbackAck(transfer_id=row.id, status=row.status,  # type: ignore[arg-type]  # core's Status values are the wire's Literal
                           duplicate=duplicate)


@dataclass(slots=True)
class BookReturn:
    """A receive partner gave a completed payout back: the entry point for a return from
    any connector. `source` names what brought it (`callback`, `recall`, `pacs.004`)."""

    transfer_id: str
    reason: str
    now: datetime
    partner_id: str | None = None  # the receive partner reporting it; None: checked before
    return_reference: str | None = None  # the partner's id for the return
    code: str | None = None  # the partner's reason code, kept with the return
    partner_reference: str | None = None
    source: str = "callback"

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)

    def apply(self, b: UnitOfWork, ch: Changes) -> Outcome:
        row = routed_to(b, self.partner_id, self.transfer_id)
        at = rfc3339(self.now)
        booked = b.return_of(row.id)
        if booked is not None:
            if booked.return_reference == self.return_reference:
                return Outcome(_ack(row, duplicate=True))  # the same return again
            self._flag(b, ch, row, "second_return", at)
            first = booked.return_reference or "no reference"
            return Outcome(_ack(row), Conflict(
                f"transfer {row.id} was already returned ({first}); a second return is not "
                "booked", code="already_returned"))
        if row.status != Status.COMPLETED:
            self._flag(b, ch, row, "return_not_completed", at)
            return Outcome(_ack(row), Conflict(
                f"transfer {row.id} is {row.status}; only a COMPLETED transfer can be "
                "returned", code="not_completed", state=row.status))
        quote = b.quote(row.quote_id)
        assert quote is not None, f"transfer {row.id} has no quote {row.quote_id}"
        journal = event_id(row.id, "return")
        ch.journal(journal, row.id, "return", "posted", return_legs(quote), at)
        ch.returned(ReturnRow(row.id, journal, row.receive_partner_id, self.return_reference,
                              self.code, self.reason, self.source, at))
        recall = b.recall_of(row.id)
        wire = None
        code = RETURN_CODE
        if recall is not None and recall.status in OPEN_RECALL:
            ch.recall_status(row.id, "RETURNED", at, self.reason)
            wire = recall_wire(RecallRow(recall.transfer_id, recall.partner_id, recall.reason,
                                         "RETURNED", recall.requested_at, at, self.reason))
            ch.close_outbox(row.id, "recall")
            code = RECALLED_CODE
        after = change(b, ch, row, Status.RETURNED, at, code, self.reason, recall=wire)
        return Outcome(_ack(after))

    def _flag(self, b: UnitOfWork, ch: Changes, row: TransferRow, kind: str, at: str) -> None:
        if b.flagged(row.id, kind):
            return
        detail, action = REFUSED_RETURNS[kind]
        partner = row.receive_partner_id
        ch.flag(row.id, kind, row.status, "RETURNED", self.partner_reference,
                detail.format(partner=partner, status=row.status,
                              reference=self.return_reference or "no reference"),
                action.format(partner=partner), at)


@dataclass(slots=True)
class RequestRecall:
    """A send partner asks for a completed transfer's funds back: recorded, and queued for
    the receive partner (answered 202 with the recall)."""

    partner_id: str
    key: str
    body_hash: str
    transfer_id: str
    reason: str
    now: datetime

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)
        n.idempotency.add((self.partner_id, self.key))

    def apply(self, b: UnitOfWork, ch: Changes) -> Reply:
        old = replay(b, self.partner_id, self.key, self.body_hash)
        if old is not None:
            return old
        row = sent_by(b, self.partner_id, self.transfer_id)
        status = Status(row.status)
        if status == Status.RETURNED:
            raise Conflict(f"transfer {row.id} was already returned", code="already_returned",
                           state=row.status)
        if status != Status.COMPLETED:
            hint = (" (it can still be cancelled: POST .../cancel)" if status in CANCELLABLE
                    else "")
            raise Conflict(f"transfer {row.id} is {row.status}; only a COMPLETED transfer can "
                           f"be recalled{hint}", code="not_completed", state=row.status)
        existing = b.recall_of(row.id)
        if existing is not None:
            raise Conflict(f"transfer {row.id} was already recalled ({existing.status})",
                           code="already_recalled", recall_status=existing.status)
        at = rfc3339(self.now)
        recall = RecallRow(row.id, self.partner_id, self.reason, "REQUESTED", at)
        ch.recall(recall)
        ch.send("recall", row.id, row.receive_partner_id,
                encode({"transfer_id": row.id, "reason": self.reason}).decode(), at, at)
        _recall_event(ch, recall, at)
        reply = Reply(202, encode(recall_wire(recall)).decode())
        ch.remember(self.partner_id, self.key, self.body_hash, reply.status, reply.body, at)
        return reply


@dataclass(slots=True)
class AnswerRecall:
    """What the receive partner answered a recall: `forwarded` (it has it; the return
    follows as a return), `refused` (with its reason: the send partner hears it, the
    transfer stays COMPLETED), or `unknown` (no usable answer: asked again at
    `retry_at`). A refusal may come in the answer or later (a receiver callback
    `RECALL_REFUSED`, an ISO 20022 camt.029)."""

    transfer_id: str
    outcome: str  # forwarded | refused | unknown
    reason: str | None
    now: datetime
    partner_id: str | None = None  # the receive partner, when it reports by callback
    retry_at: datetime | None = None

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)

    def apply(self, b: UnitOfWork, ch: Changes) -> api.CallbackAck:
        row = routed_to(b, self.partner_id, self.transfer_id)
        recall = b.recall_of(row.id)
        if recall is None:
            raise Conflict(f"transfer {row.id} has no recall to answer", code="no_recall")
        at = rfc3339(self.now)
        if recall.status not in OPEN_RECALL:  # refused or returned already: a repeat
            ch.close_outbox(row.id, "recall")
            return _ack(row, duplicate=True)
        if self.outcome == "unknown":
            if self.retry_at is not None:
                ch.reschedule(row.id, "recall", rfc3339(self.retry_at))
            return _ack(row)
        ch.close_outbox(row.id, "recall")
        if self.outcome == "forwarded":
            if recall.status == "REQUESTED":
                ch.recall_status(row.id, "FORWARDED")
                _recall_event(ch, _with_status(recall, "FORWARDED"), at)
            return _ack(row)
        answer = self.reason or "refused by the receive partner"
        done = RecallRow(recall.transfer_id, recall.partner_id, recall.reason, "REFUSED",
                         recall.requested_at, at, answer)
        ch.recall_status(row.id, "REFUSED", at, answer)
        _recall_event(ch, done, at)
        notify(ch, row, at, recall_wire(done), always=True)
        return _ack(row)


def _with_status(r: RecallRow, status: str) -> RecallRow:
    return RecallRow(r.transfer_id, r.partner_id, r.reason, status, r.requested_at,
                     r.answered_at, r.answer)


def _recall_event(ch: Changes, r: RecallRow, at: str) -> None:
    ch.event(new_id(), "transfer.recall", r.transfer_id, at, encode({
        "transfer_id": r.transfer_id, "partner": r.partner_id, "status": r.status,
        "reason": r.reason, "answer": r.answer}).decode())
