"""Transfers: a new transfer is RECEIVED and, in the same commit, ACCEPTED (its float
reserved), held for compliance or REJECTED; a transfer not yet submitted can be
cancelled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import msgspec

from corridor.api import schemas as api
from corridor.core import ledger
from corridor.core.compliance import Hit
from corridor.core.errors import Conflict, InvalidInput
from corridor.core.ids import new_id
from corridor.core.pricing import Quote
from corridor.core.states import RESERVED, Status
from corridor.core.times import rfc3339
from corridor.site.model import Partner
from corridor.store import Changes, Needs, TransferRow, UnitOfWork
from corridor.store.changes import Journal, journal_rows
from corridor.store.rows import EventRow, NewMessage
from corridor.txn.commands.floats import funds_and_limits
from corridor.txn.commands.idempotency import Reply, replay
from corridor.txn.commands.transitions import (
    change,
    event_id,
    legs_of,
    notify,
    own_transfer,
    sent_by,
)
from corridor.txn.wire import encode, status_event, transfer_wire


@dataclass(slots=True)
class Prepared:
    """The parts of a new transfer that need no store, built before it is queued: its row,
    the rows an acceptance writes, and the answer if it is accepted."""

    row: TransferRow
    at: str
    received: EventRow  # the RECEIVED event
    accepted: EventRow  # the ACCEPTED event
    accepted_row: TransferRow
    accepted_reply: str
    reserve: Journal  # the pending journal an acceptance writes
    payout: NewMessage  # the payout outbox message an acceptance queues


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
            EventRow(f"{tid}/{_RECEIVED}", "transfer.status", tid, at, received_data),  # event_id
            EventRow(f"{tid}/{_ACCEPTED}", "transfer.status", tid, at,
                     _restatus(received_data, _ACCEPTED, _RECEIVED)),
            row,
            encode(transfer_wire(row, beneficiary=self.request.beneficiary)).decode(),
            journal_rows(f"{tid}/reserve", tid, "reserve", "pending",
                         ledger.transfer_legs(self.quote), at),
            NewMessage("payout", tid, row.receive_partner_id, f'{{"transfer_id":"{tid}"}}', at, at),
        )

    def apply(self, b: UnitOfWork, ch: Changes) -> Reply:
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
            # What `floats.reserve` writes, made beforehand in `prepare`.
            ch.post(pre.reserve)
            ch.add_daily(p, self.sender_key, day, quote.send.minor)
            ch.outbox.append(pre.payout if ch.traceparent is None else
                             msgspec.structs.replace(pre.payout, traceparent=ch.traceparent))
            ch.events.append(pre.accepted)
            ch.transfer(pre.accepted_row)
            reply = Reply(201, pre.accepted_reply)
        else:
            code, reason = refusal
            ch.event(event_id(row.id, status), "transfer.status", row.id, at,
                     status_event(row, status, Status.RECEIVED, code, reason))
            final = msgspec.structs.replace(row, status=str(status), code=code, reason=reason)
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

    def apply(self, b: UnitOfWork, ch: Changes) -> Reply:
        if self.partner_id is not None and self.key is not None:
            old = replay(b, self.partner_id, self.key, self.body_hash)
            if old is not None:
                return old
        row = (own_transfer(b, None, self.transfer_id) if self.partner_id is None
               else sent_by(b, self.partner_id, self.transfer_id))
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
