"""TXN's use cases, each a command the group-commit writer runs inside one transaction.

A command first names what it will read (`needs`), then checks everything it can refuse
on before it writes into its `Changes`; a refusal raises a `CorridorError` and leaves no
trace. Every state change goes through `core.states.check_transition`, writes a
`transfer.status` event and, where the partner must hear of it, an outbox message.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from corridor.api import schemas as api
from corridor.core import ledger
from corridor.core.compliance import Hit, exceeds_daily
from corridor.core.errors import Conflict, InvalidInput, NotFound, Refused
from corridor.core.ids import new_id
from corridor.core.money import Money
from corridor.core.pricing import Quote
from corridor.core.states import FINAL, RESERVED, Status, check_transition
from corridor.core.times import rfc3339
from corridor.site.model import Partner
from corridor.store import Batch, Changes, Needs, TransferRow
from corridor.store.batch import JournalRows, journal_rows
from corridor.store.rows import OutboxRow
from corridor.txn.wire import encode, quote_wire, status_event, transfer_wire


def event_id(transfer_id: str, status: str) -> str:
    """A transfer reaches each state at most once (the transition table has no cycles), so
    its status events and journals are named after it; no random id is needed per row."""
    return f"{transfer_id}/{status}"


# States the send partner hears about by sender callback (corridor.txn.delivery).
NOTIFY = frozenset({Status.COMPLIANCE_HOLD, Status.COMPLETED, Status.FAILED, Status.REJECTED,
                    Status.CANCELLED})


@dataclass(slots=True)
class Reply:
    """An HTTP answer: kept under the idempotency key so a retry gets it back verbatim."""

    status: int
    body: str
    replayed: bool = False


def replay(b: Batch, partner_id: str, key: str, body_hash: str) -> Reply | None:
    """The stored answer for a retried key, or None for a new key; another body under a
    used key is a conflict."""
    stored = b.stored(partner_id, key)
    if stored is None:
        return None
    if stored.body_hash != body_hash:
        raise Conflict(f"Idempotency-Key {key!r} was used with another body",
                       code="idempotency_conflict")
    return Reply(stored.status, stored.response, replayed=True)


def change(b: Batch, ch: Changes, row: TransferRow, new: Status, at: str,
           code: str | None = None, reason: str | None = None) -> TransferRow:
    """Move a stored transfer to `new`: the update, its event, a sender callback."""
    check_transition(Status(row.status), new)
    ch.status(row.id, new, code, reason, at)
    ch.event(event_id(row.id, new), "transfer.status", row.id, at,
             status_event(row, new, row.status, code, reason))
    after = dataclasses.replace(row, status=str(new), code=code, reason=reason, updated_at=at)
    notify(ch, after, at)
    return after


def notify(ch: Changes, row: TransferRow, at: str) -> None:
    if row.status in NOTIFY:
        payload = api.SenderCallback(event_id=new_id(), transfer=transfer_wire(row))
        ch.send("sender_callback", row.id, row.partner_id, encode(payload).decode(), at, at)


def legs_of(b: Batch, row: TransferRow) -> list[ledger.Leg]:
    quote = b.quote(row.quote_id)
    assert quote is not None, f"transfer {row.id} has no quote {row.quote_id}"
    return ledger.transfer_legs(quote)


def funds_and_limits(b: Batch, partner: Partner, quote: Quote, sender_key: str,
                     day: str) -> tuple[str, str] | None:
    """Why this transfer cannot be reserved now, as (code, reason); None if it can."""
    if exceeds_daily(partner, quote.send.minor, b.day_total(partner.id, sender_key, day)):
        return "limit_exceeded", "the sender's daily limit would be exceeded"
    posted, pending = b.balance(ledger.float_account(partner.id, quote.send.currency))
    total = quote.send.minor + quote.fee.minor  # quote.total, without building a Money
    if posted + pending - total < (partner.float_floor or 0):
        return "insufficient_funds", f"the {quote.send.currency} float cannot cover {quote.total}"
    return None


def reserve(ch: Changes, b: Batch, row: TransferRow, quote: Quote, day: str, at: str) -> None:
    """Reserve the float for an accepted transfer and queue its payout (CreateTransfer
    writes the same rows, made before it was queued)."""
    ch.journal(event_id(row.id, "reserve"), row.id, "reserve", "pending",
               ledger.transfer_legs(quote), at)
    ch.add_daily(row.partner_id, row.sender_key, day, quote.send.minor)
    ch.send("payout", row.id, row.receive_partner_id, encode({"transfer_id": row.id}).decode(),
            at, at)


@dataclass(slots=True)
class CreateQuote:
    partner_id: str
    key: str
    body_hash: str
    quote: Quote

    def needs(self, n: Needs) -> None:
        n.idempotency.add((self.partner_id, self.key))

    def apply(self, b: Batch, ch: Changes) -> Reply:
        old = replay(b, self.partner_id, self.key, self.body_hash)
        if old is not None:
            return old
        ch.quotes.append(self.quote)
        reply = Reply(201, encode(quote_wire(self.quote)).decode())
        ch.remember(self.partner_id, self.key, self.body_hash, reply.status, reply.body,
                    rfc3339(self.quote.created_at))
        return reply


@dataclass(slots=True)
class Prepared:
    """The parts of a new transfer that need no store, built before it is queued: its row,
    the rows an acceptance writes, and the answer if it is accepted."""

    row: TransferRow
    at: str
    received: tuple[str, str, str, str, str]  # the RECEIVED event row
    accepted: tuple[str, str, str, str, str]  # the ACCEPTED event row
    accepted_row: TransferRow
    accepted_reply: str
    reserve: JournalRows  # the pending journal an acceptance writes
    payout: tuple[Any, ...]  # the payout outbox message an acceptance queues


# Plain strings of the states a new transfer's rows name, formatted without the enum.
_RECEIVED, _ACCEPTED = str(Status.RECEIVED), str(Status.ACCEPTED)


def _restatus(event: str, status: str, previous: str) -> str:
    """A `transfer.status` event of the same transfer in another state: the data differs
    only in its first two keys (`wire.status_event` writes `status`, then `previous`), so
    the rest is reused rather than encoded again."""
    head = '{"status":"RECEIVED","previous":null,'
    assert event.startswith(head), event[:60]
    return f'{{"status":"{status}","previous":"{previous}",{event[len(head):]}'


@dataclass(slots=True)
class CreateTransfer:
    """RECEIVED, then in the same commit ACCEPTED (reserved), COMPLIANCE_HOLD or REJECTED."""

    partner: Partner
    key: str
    body_hash: str
    request: api.TransferRequest
    quote: Quote | None  # None when the quote id is unknown
    hit: Hit | None
    sender_key: str
    now: datetime
    prepared: Prepared | None = None

    def needs(self, n: Needs) -> None:
        p = self.partner.id
        n.idempotency.add((p, self.key))
        n.references.add((p, self.request.reference))
        if self.quote is not None:
            n.quotes.add(self.quote.id)
            n.accounts.add(ledger.float_account(p, self.quote.send.currency))
            n.daily.add((p, self.sender_key, self.now.date().isoformat()))

    def prepare(self) -> None:
        """Build what does not depend on the store (the row, its events and the answer if
        it is accepted) before the command is queued, so that the single writer thread
        spends its time on the store, not on JSON."""
        if self.quote is None or self.prepared is not None:
            return
        at = rfc3339(self.now)
        # Made in its accepted state at once: the events take their status separately,
        # and the refused paths in `apply` copy it with their own status.
        row = self._row(at, _ACCEPTED)
        tid = row.id
        received_data = status_event(row, _RECEIVED, None, None, None)
        self.prepared = Prepared(
            row, at,
            (f"{tid}/{_RECEIVED}", "transfer.status", tid, at, received_data),  # event_id
            (f"{tid}/{_ACCEPTED}", "transfer.status", tid, at,
             _restatus(received_data, _ACCEPTED, _RECEIVED)),
            row,
            encode(transfer_wire(row, beneficiary=self.request.beneficiary)).decode(),
            journal_rows(f"{tid}/reserve", tid, "reserve", "pending",
                         ledger.transfer_legs(self.quote), at),
            ("payout", tid, row.receive_partner_id, f'{{"transfer_id":"{tid}"}}', "pending", 0,
             at, None, at),
        )

    def apply(self, b: Batch, ch: Changes) -> Reply:
        p, req, quote = self.partner.id, self.request, self.quote
        old = replay(b, p, self.key, self.body_hash)
        if old is not None:
            return old
        if quote is None:
            raise InvalidInput(f"quote {req.quote_id} not found", code="quote_not_found")
        quote.check_usable(p, self.now)
        if b.quote_used(quote.id):
            raise Conflict(f"quote {quote.id} was already used for a transfer", code="quote_used")
        if b.reference_taken(p, req.reference):
            raise Conflict(f"reference {req.reference!r} is already used",
                           code="duplicate_reference")
        self.prepare()
        pre = self.prepared
        assert pre is not None
        at, day, row = pre.at, self.now.date().isoformat(), pre.row
        ch.events.append(pre.received)
        refusal = None
        if self.hit is not None:
            status, code = Status.COMPLIANCE_HOLD, "sanctions_hit"
            refusal = (code, f"{self.hit.party} name resembles a sanctions list entry")
        else:
            status = Status.REJECTED
            refusal = funds_and_limits(b, self.partner, quote, self.sender_key, day)
        if refusal is None:
            # What `reserve` writes, made beforehand in `prepare`.
            ch.post(pre.reserve)
            ch.add_daily(p, self.sender_key, day, quote.send.minor)
            ch.outbox.append(pre.payout)
            ch.events.append(pre.accepted)
            ch.transfer(pre.accepted_row)
            reply = Reply(201, pre.accepted_reply)
        else:
            code, reason = refusal
            ch.event(event_id(row.id, status), "transfer.status", row.id, at,
                     status_event(row, status, Status.RECEIVED, code, reason))
            final = dataclasses.replace(row, status=str(status), code=code, reason=reason)
            ch.transfer(final)
            notify(ch, final, at)
            reply = Reply(201, encode(transfer_wire(final, beneficiary=req.beneficiary)).decode())
        ch.remember(p, self.key, self.body_hash, reply.status, reply.body, at)
        return reply

    def _row(self, at: str, status: str) -> TransferRow:
        q, req = self.quote, self.request
        assert q is not None
        hit = self.hit
        screening = None if hit is None else encode({
            "party": hit.party, "entry": hit.entry_id, "name": hit.matched_name,
            "score": hit.score,
        }).decode()
        return TransferRow(
            id=new_id(), partner_id=q.partner_id, reference=req.reference, quote_id=q.id,
            receive_partner_id=q.receive_partner_id, corridor=q.corridor,
            status=status, code=None, reason=None,
            send_minor=q.send.minor, send_currency=q.send.currency,
            receive_minor=q.receive.minor, receive_currency=q.receive.currency,
            fee_minor=q.fee.minor, fx_margin_minor=q.fx_margin.minor, rate=str(q.rate),
            destination_country=q.destination_country, payout_method=q.payout_method,
            sender=encode(req.sender).decode(), beneficiary=encode(req.beneficiary).decode(),
            purpose=req.purpose, source_of_funds=req.source_of_funds,
            sender_key=self.sender_key, screening=screening, created_at=at, updated_at=at,
        )


def own_transfer(b: Batch, partner_id: str | None, transfer_id: str) -> TransferRow:
    """A transfer the caller may see (a partner sees only its own; None is an operator)."""
    row = b.transfer(transfer_id)
    if row is None or (partner_id is not None and partner_id not in (
            row.partner_id, row.receive_partner_id)):
        raise NotFound(f"transfer {transfer_id} not found", code="transfer_not_found")
    return row


@dataclass(slots=True)
class CancelTransfer:
    """Cancel before submission; a reservation is released."""

    partner_id: str | None
    key: str | None
    body_hash: str
    transfer_id: str
    reason: str | None
    now: datetime

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)
        if self.partner_id is not None and self.key is not None:
            n.idempotency.add((self.partner_id, self.key))

    def apply(self, b: Batch, ch: Changes) -> Reply:
        if self.partner_id is not None and self.key is not None:
            old = replay(b, self.partner_id, self.key, self.body_hash)
            if old is not None:
                return old
        row = own_transfer(b, self.partner_id, self.transfer_id)
        if self.partner_id is not None and row.partner_id != self.partner_id:
            raise NotFound(f"transfer {self.transfer_id} not found", code="transfer_not_found")
        at = rfc3339(self.now)
        was = Status(row.status)
        after = change(b, ch, row, Status.CANCELLED, at, "cancelled",
                       self.reason or "cancelled by the send partner")
        if was in RESERVED:
            ch.journal(event_id(row.id, "release"), row.id, "release", "pending",
                       ledger.reversal(legs_of(b, row)), at)
        ch.close_outbox(row.id, "payout")
        reply = Reply(200, encode(transfer_wire(after)).decode())
        if self.partner_id is not None and self.key is not None:
            ch.remember(self.partner_id, self.key, self.body_hash, 200, reply.body, at)
        return reply


@dataclass(slots=True)
class Fund:
    """Record a send partner's prefunding deposit on its float."""

    partner: Partner
    amount: Money
    reference: str
    now: datetime

    def needs(self, n: Needs) -> None:
        n.accounts.add(ledger.float_account(self.partner.id, self.amount.currency))

    def apply(self, b: Batch, ch: Changes) -> dict[str, Any]:
        p = self.partner
        if not p.sends:
            raise InvalidInput(f"{p.id} is not a send partner", code="not_a_send_partner")
        if self.amount.currency not in p.currencies:
            raise InvalidInput(f"{p.id} does not hold {self.amount.currency}",
                               code="currency_not_supported")
        if self.amount.minor <= 0:
            raise InvalidInput("a deposit must be positive", code="invalid_amount")
        if b.funded(p.id, self.reference):
            raise Conflict(f"deposit {self.reference!r} is already recorded",
                           code="duplicate_reference")
        at, journal = rfc3339(self.now), new_id()
        ch.journal(journal, None, "fund", "posted", ledger.funding_legs(p.id, self.amount), at)
        ch.funding(p.id, self.reference, self.amount.currency, self.amount.minor, journal, at)
        ch.event(new_id(), "ledger.funded", None, at, encode({
            "partner": p.id, "currency": self.amount.currency, "amount": self.amount.minor,
            "reference": self.reference}).decode())
        return {"partner": p.id, "amount": self.amount.text, "currency": self.amount.currency,
                "reference": self.reference, "journal": journal}


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

    def apply(self, b: Batch, ch: Changes) -> TransferRow:
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


@dataclass(slots=True)
class ClaimOutbox:
    """Lease due outbox messages of `kind` to this worker (skipping others' on PostgreSQL):
    each claim counts as an attempt and moves `due_at` past the lease."""

    kind: str
    now: datetime
    limit: int
    lease: timedelta

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: Batch, ch: Changes) -> list[Any]:
        rows = b.due_outbox(self.kind, rfc3339(self.now), self.limit)
        until = rfc3339(self.now + self.lease)
        for r in rows:
            ch.outbox_state(r.id, r.state, r.attempts + 1, until, r.last_error)
        return rows


@dataclass(slots=True)
class ClaimPayouts:
    """Lease due payout messages and, in the same commit, move each ACCEPTED transfer to
    SUBMITTED before its connector is called: [(message, transfer, fresh)]. A transfer
    already SUBMITTED or UNKNOWN (a worker died mid-payout, or the outcome is awaited) comes
    with fresh=False: the worker asks the partner for its status instead. A message whose
    transfer was cancelled or finished meanwhile is closed."""

    now: datetime
    limit: int
    lease: timedelta

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: Batch, ch: Changes) -> list[tuple[OutboxRow, TransferRow, bool]]:
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

    def apply(self, b: Batch, ch: Changes) -> api.CallbackAck:
        row = b.transfer(self.transfer_id)
        if row is None:
            raise NotFound(f"transfer {self.transfer_id} not found", code="transfer_not_found")
        if self.partner_id is not None and row.receive_partner_id != self.partner_id:
            raise Refused(f"transfer {self.transfer_id} was not routed to {self.partner_id}",
                          code="not_your_transfer")
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

    def _contradiction(self, b: Batch, ch: Changes, row: TransferRow, status: Status,
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
    return api.CallbackAck(transfer_id=row.id, status=row.status,  # type: ignore[arg-type]
                           duplicate=duplicate)


@dataclass(slots=True)
class Delivered:
    """The result of one attempt to deliver an outbox message (a sender callback): done,
    or due again at `retry_at`, or parked (`dead`) once `give_up_at` has passed."""

    message: OutboxRow
    ok: bool
    error: str | None
    now: datetime
    retry_at: datetime
    period: timedelta  # how long a failing message is retried before it is parked

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: Batch, ch: Changes) -> str:
        m, at = self.message, rfc3339(self.now)
        if self.ok:
            ch.outbox_retry(m.id, "done", at, None, m.give_up_at)
            return "done"
        give_up = m.give_up_at or rfc3339(self.now + self.period)
        if give_up <= at:
            ch.outbox_retry(m.id, "dead", at, self.error, give_up)
            return "dead"
        ch.outbox_retry(m.id, "pending", rfc3339(self.retry_at), self.error, give_up)
        return "pending"


@dataclass(slots=True)
class Replay:
    """Queue a parked (or any not yet delivered) message again, with a fresh period."""

    outbox_id: int
    now: datetime

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: Batch, ch: Changes) -> OutboxRow:
        m = b.outbox_message(self.outbox_id)
        if m is None:
            raise NotFound(f"no outbox message {self.outbox_id}", code="message_not_found")
        if m.state == "done":
            raise Conflict(f"message {m.id} was already delivered", code="already_delivered")
        ch.outbox_retry(m.id, "pending", rfc3339(self.now), m.last_error, None)
        return m


@dataclass(slots=True)
class ResolveFlag:
    """A person closes a transfer's flagged contradictions (of `kind`, or all), saying what
    they did: the flags leave `corridor reconcile` and keep the note."""

    transfer_id: str
    kind: str | None
    by: str
    note: str
    now: datetime

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: Batch, ch: Changes) -> list[str]:
        flags = [(i, k) for i, k in b.open_flags(self.transfer_id)
                 if self.kind is None or k == self.kind]
        if not flags:
            what = f" of kind {self.kind}" if self.kind else ""
            raise NotFound(f"transfer {self.transfer_id} has no open flag{what}",
                           code="no_open_flag")
        at = rfc3339(self.now)
        for flag_id, _ in flags:
            ch.resolve(flag_id, self.by, self.note, at)
        return [k for _, k in flags]


@dataclass(slots=True)
class ForgetKeys:
    """Drop idempotency keys older than the retention (at least 24 hours)."""

    before: datetime

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: Batch, ch: Changes) -> int:
        return b.forget_idempotency(rfc3339(self.before))
