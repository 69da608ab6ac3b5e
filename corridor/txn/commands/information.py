"""Information requests on transfers held for compliance: an analyst asks, the send
partner hears it by sender callback (INFO_REQUESTED) and answers with text and documents,
the analyst reads them and releases or rejects; a request left unanswered past its deadline
rejects the transfer with that reason. Every step is an event of the feed (the audit:
`compliance.info_requested`, `.info_answered`, `.info_expired`, `.document_read`) and the
analyst's steps are rows of `compliance_decisions` too. The transfer stays COMPLIANCE_HOLD
throughout: the state machine is unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corridor.api import schemas as api
from corridor.api.documents import (
    DocumentReceipt,
    InformationAnswer,
    InformationAnswerReceipt,
    check_answer,
    check_document,
    sha256,
)
from corridor.core.errors import Conflict, InternalError, InvalidInput, NotFound
from corridor.core.ids import new_id
from corridor.core.states import Status
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, TransferRow, UnitOfWork
from corridor.txn.commands.idempotency import Reply, replay
from corridor.txn.commands.transitions import change, own_transfer, sent_by
from corridor.txn.wire import encode, transfer_wire

MAX_ASK = 2000
OPEN = "open"
_REQUEST = ("SELECT id, transfer_id, partner_id, ask, asked_by, asked_at, deadline, state, "
            "answer, answered_at FROM information_requests")


def requests_of(b: UnitOfWork, transfer_id: str) -> list[tuple[Any, ...]]:
    return b.conn.query(f"{_REQUEST} WHERE transfer_id = ? ORDER BY asked_at, id",
                        (transfer_id,))


def _open_request(b: UnitOfWork, transfer_id: str) -> tuple[Any, ...] | None:
    return next((r for r in requests_of(b, transfer_id) if r[7] == OPEN), None)


@dataclass(slots=True)
class RequestInfo:
    """An analyst asks the send partner about a held transfer, with a deadline."""

    transfer_id: str
    ask: str
    analyst: str
    deadline: datetime
    now: datetime

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)

    def apply(self, b: UnitOfWork, ch: Changes) -> api.InformationRequest:
        row = own_transfer(b, None, self.transfer_id)
        if row.status != Status.COMPLIANCE_HOLD:
            raise Conflict(f"transfer {row.id} is {row.status}, not on compliance hold",
                           code="invalid_state")
        ask = self.ask.strip()
        if not ask or len(ask) > MAX_ASK:
            raise InvalidInput(f"the question is 1 to {MAX_ASK} characters",
                               code="invalid_request")
        if self.deadline <= self.now:
            raise InvalidInput("the deadline must be in the future", code="invalid_request")
        if _open_request(b, row.id) is not None:
            raise Conflict(f"transfer {row.id} already has an unanswered information request",
                           code="information_request_open")
        at, rid = rfc3339(self.now), new_id()
        request = api.InformationRequest(id=rid, ask=ask, deadline=rfc3339(self.deadline),
                                         asked_at=at)
        ch.execute(
            "INSERT INTO information_requests (id, transfer_id, partner_id, ask, asked_by, "
            "asked_at, deadline, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (rid, row.id, row.partner_id, ask, self.analyst, at, request.deadline, OPEN))
        ch.decision(row.id, "request_info", self.analyst, ask, at)
        ch.event(f"{row.id}/info/{rid}", "compliance.info_requested", row.id, at, encode({
            "transfer_id": row.id, "request_id": rid, "ask": ask,
            "deadline": request.deadline, "analyst": self.analyst}).decode())
        callback = api.SenderCallback(event_id=new_id(), transfer=transfer_wire(row),
                                      type="INFO_REQUESTED", information_request=request)
        ch.send("sender_callback", row.id, row.partner_id, encode(callback).decode(), at, at)
        return request


@dataclass(slots=True)
class AnswerInfo:
    """The send partner's answer (`POST /v1/transfers/{id}/documents`): text and checked
    documents, stored with their SHA-256; the request is answered, the transfer stays held
    for the analyst. Another partner's transfer is not found; a transfer without an open
    request is refused (409 `no_information_request`)."""

    partner_id: str
    key: str
    body_hash: str
    transfer_id: str
    answer: InformationAnswer
    now: datetime

    def needs(self, n: Needs) -> None:
        n.transfers.add(self.transfer_id)
        n.idempotency.add((self.partner_id, self.key))

    def apply(self, b: UnitOfWork, ch: Changes) -> Reply:
        old = replay(b, self.partner_id, self.key, self.body_hash)
        if old is not None:
            return old
        row = sent_by(b, self.partner_id, self.transfer_id)
        request = _open_request(b, row.id) if row.status == Status.COMPLIANCE_HOLD else None
        if request is None:
            raise Conflict(f"transfer {row.id} has no information request waiting for an "
                           "answer", code="no_information_request")
        answer = self.answer
        check_answer(answer.text, len(answer.documents))
        at, rid = rfc3339(self.now), str(request[0])
        receipts = []
        for doc in answer.documents:
            kind = check_document(doc.name, doc.media_type, doc.content)
            receipt = DocumentReceipt(id=new_id(), name=doc.name[:200], media_type=kind,
                                      size=len(doc.content), sha256=sha256(doc.content))
            receipts.append(receipt)
            ch.execute(
                "INSERT INTO documents (id, request_id, transfer_id, partner_id, name, "
                "media_type, size, sha256, content, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (receipt.id, rid, row.id, row.partner_id, receipt.name, kind, receipt.size,
                 receipt.sha256, doc.content, at))
        text = (answer.text or "").strip() or None
        ch.execute("UPDATE information_requests SET state = 'answered', answer = ?, "
                   "answered_at = ? WHERE id = ? AND state = 'open'", (text, at, rid))
        ch.event(f"{row.id}/info/{rid}/answer", "compliance.info_answered", row.id, at, encode({
            "transfer_id": row.id, "request_id": rid, "partner": self.partner_id,
            "text": text, "documents": receipts}).decode())
        reply = Reply(201, encode(InformationAnswerReceipt(
            transfer_id=row.id, request_id=rid, status=row.status, text=text,
            documents=receipts)).decode())
        ch.remember(self.partner_id, self.key, self.body_hash, reply.status, reply.body, at)
        return reply


@dataclass(slots=True)
class ExpireInfoRequests:
    """Reject each held transfer whose information request is still unanswered at its
    deadline, with that reason; how many were rejected."""

    now: datetime
    limit: int = 100

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> int:
        at = rfc3339(self.now)
        due = b.conn.query(f"{_REQUEST} WHERE state = 'open' AND deadline <= ? "
                           "ORDER BY deadline LIMIT ?", (at, self.limit))
        rejected = 0
        for rid, tid, _p, ask, _by, _asked, deadline, *_ in due:
            row = b.transfer(str(tid))
            ch.execute("UPDATE information_requests SET state = ? WHERE id = ?",
                       ("expired" if row is not None and row.status == Status.COMPLIANCE_HOLD
                        else "closed", rid))
            if row is None or row.status != Status.COMPLIANCE_HOLD:
                continue
            reason = f"no answer by {deadline} to the information request: {ask}"[:500]
            ch.decision(row.id, "reject", "hub", reason, at)
            ch.event(f"{row.id}/info/{rid}/expired", "compliance.info_expired", row.id, at,
                     encode({"transfer_id": row.id, "request_id": rid, "deadline": deadline,
                             "ask": ask}).decode())
            change(b, ch, row, Status.REJECTED, at, "information_not_provided", reason)
            rejected += 1
        return rejected


def close_requests(ch: Changes, row: TransferRow) -> None:
    """The analyst decided: whatever was asked about the transfer is settled."""
    ch.execute("UPDATE information_requests SET state = 'closed' WHERE transfer_id = ? "
               "AND state IN ('open', 'answered')", (row.id,))


@dataclass(slots=True)
class ReadDocument:
    """An analyst reads a document (`corridor compliance document`): its content, checked
    against the hash it was stored with; the reading is audited."""

    document_id: str
    analyst: str
    now: datetime

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> tuple[DocumentReceipt, str, bytes]:
        rows = b.conn.query("SELECT id, name, media_type, size, sha256, transfer_id, content "
                            "FROM documents WHERE id = ?", (self.document_id,))
        if not rows:
            raise NotFound(f"no document {self.document_id}", code="document_not_found")
        did, name, kind, size, digest, tid, content = rows[0]
        content = bytes(content)
        if sha256(content) != digest:
            raise InternalError(f"document {did} does not match its stored SHA-256",
                                code="document_damaged")
        at = rfc3339(self.now)
        ch.event(new_id(), "compliance.document_read", str(tid), at, encode({
            "transfer_id": tid, "document_id": did, "analyst": self.analyst,
            "sha256": digest}).decode())
        return (DocumentReceipt(id=str(did), name=str(name), media_type=str(kind),
                                size=int(size), sha256=str(digest)), str(tid), content)
