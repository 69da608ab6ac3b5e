"""Moving a stored transfer from one state to another: the update, its `transfer.status`
event and, for the states the send partner hears about, a sender callback."""

from __future__ import annotations

import msgspec

from corridor.api import schemas as api
from corridor.core import ledger
from corridor.core.errors import NotFound, Refused
from corridor.core.ids import new_id
from corridor.core.states import Status, check_transition
from corridor.store import Changes, TransferRow, UnitOfWork
from corridor.txn.wire import encode, status_event, transfer_wire


def event_id(transfer_id: str, status: str) -> str:
    """A transfer reaches each state at most once (the transition table has no cycles), so
    its status events and journals are named after it; no random id is needed per row."""
    return f"{transfer_id}/{status}"


# States the send partner hears about by sender callback (corridor.txn.delivery).
NOTIFY = frozenset({Status.COMPLIANCE_HOLD, Status.COMPLETED, Status.FAILED, Status.REJECTED,
                    Status.CANCELLED, Status.RETURNED})


def change(b: UnitOfWork, ch: Changes, row: TransferRow, new: Status, at: str,
           code: str | None = None, reason: str | None = None,
           recall: api.Recall | None = None) -> TransferRow:
    """Move a stored transfer to `new`: the update, its event, a sender callback (which
    carries `recall` when the move answers one)."""
    check_transition(Status(row.status), new)
    ch.status(row.id, new, code, reason, at)
    ch.event(event_id(row.id, new), "transfer.status", row.id, at,
             status_event(row, new, row.status, code, reason))
    after = msgspec.structs.replace(row, status=str(new), code=code, reason=reason, updated_at=at)
    notify(ch, after, at, recall)
    return after


def notify(ch: Changes, row: TransferRow, at: str, recall: api.Recall | None = None,
           always: bool = False) -> None:
    """Queue a sender callback for the transfer as it now stands (in a state the send
    partner hears about, or `always`)."""
    if always or row.status in NOTIFY:
        payload = api.SenderCallback(event_id=new_id(), transfer=transfer_wire(row),
                                     recall=recall, type="TRANSFER_STATUS")
        ch.send("sender_callback", row.id, row.partner_id, encode(payload).decode(), at, at)


def legs_of(b: UnitOfWork, row: TransferRow) -> list[ledger.Leg]:
    quote = b.quote(row.quote_id)
    assert quote is not None, f"transfer {row.id} has no quote {row.quote_id}"
    return ledger.transfer_legs(quote, row.receive_partner_id)


def own_transfer(b: UnitOfWork, partner_id: str | None, transfer_id: str) -> TransferRow:
    """A transfer the caller may see (a partner sees only its own; None is an operator)."""
    row = b.transfer(transfer_id)
    if row is None or (partner_id is not None and partner_id not in (
            row.partner_id, row.receive_partner_id)):
        raise NotFound(f"transfer {transfer_id} not found", code="transfer_not_found")
    return row


def sent_by(b: UnitOfWork, partner_id: str, transfer_id: str) -> TransferRow:
    """A transfer its send partner acts on; another partner's is not there for it (as for
    GET and cancel)."""
    row = b.transfer(transfer_id)
    if row is None or row.partner_id != partner_id:
        raise NotFound(f"transfer {transfer_id} not found", code="transfer_not_found")
    return row


def routed_to(b: UnitOfWork, partner_id: str | None, transfer_id: str) -> TransferRow:
    """The transfer a receive partner reports on (None: the hub itself, e.g. a recall's
    answer); another partner's is refused."""
    row = b.transfer(transfer_id)
    if row is None:
        raise NotFound(f"transfer {transfer_id} not found", code="transfer_not_found")
    if partner_id is not None and row.receive_partner_id != partner_id:
        raise Refused(f"transfer {transfer_id} was not routed to {partner_id}",
                      code="not_your_transfer")
    return row
