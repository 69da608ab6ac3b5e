"""Information requests on held transfers, through EIG with the simulators: the analyst
asks (`corridor compliance request-info`), PayFast hears it by sender callback
INFO_REQUESTED and answers with text and documents (`POST /v1/transfers/{id}/documents`),
the analyst reads them and releases; an unanswered request rejects the transfer at its
deadline; refused uploads (too large, another type than claimed, another partner's
transfer) change nothing. Every step is in the audit (the event feed)."""

from __future__ import annotations

import json
import stat
import struct
import zlib
from pathlib import Path
from typing import Any

import aiohttp

from corridor.api.documents import MAX_DOCUMENT
from corridor.sim.world import World
from corridor.store import reads as q
from tests.e2e.journeys import send, sender_told, wait_status
from tests.e2e.partnerapi import call
from tests.e2e.test_faults import corridor
from tests.support import wait_for

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


def held(world: World) -> str:
    """A PayFast transfer to a beneficiary whose name is on the demo sanctions list."""
    status, quote, _ = call(world, "payfast", "POST", "/v1/quotes", body={
        "send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",
        "payout_method": "wallet", "send_amount": "1000.00"})
    assert status in (200, 201), quote
    status, transfer, _ = call(world, "payfast", "POST", "/v1/transfers", body={
        "quote_id": quote["id"], "reference": f"HOLD-{quote['id']}",
        "sender": {"name": "Asha Rao", "account": "IN123456789012", "address": "1 MG Road",
                   "id_type": "passport", "id_number": "P1234567", "country": "IN"},
        "beneficiary": {"name": "Viktor Malenko", "account": "254700000001",
                        "phone": "+254700000001", "country": "KE"},
        "purpose": "family support", "source_of_funds": "salary"})
    assert status == 201 and transfer["status"] == "COMPLIANCE_HOLD", transfer
    return str(transfer["id"])


def form(text: str | None, *docs: tuple[str, str, bytes]) -> aiohttp.FormData:
    data = aiohttp.FormData(default_to_multipart=True)
    if text is not None:
        data.add_field("text", text)
    for name, kind, content in docs:
        data.add_field("document", content, filename=name, content_type=kind)
    return data


def answer(world: World, tid: str, text: str | None, *docs: tuple[str, str, bytes],
           partner: str = "payfast") -> tuple[int, Any]:
    status, body, _ = call(world, partner, "POST", f"/v1/transfers/{tid}/documents",
                           form=form(text, *docs))
    return status, body


def audit(world: World, tid: str) -> list[str]:
    return [kind for _seq, kind, *_ in world.query(q.transfer_events, tid)]


def ask(world: World, tid: str, question: str, within: str = "1h") -> tuple[int, str]:
    return corridor(world, "compliance", "request-info", tid, "--ask", question,
                    "--analyst", "alice", "--within", within)


def info_callback(world: World, tid: str) -> dict[str, Any]:
    def got() -> dict[str, Any] | None:
        return next((c for c in world.sender_callbacks(tid)
                     if c["type"] == "INFO_REQUESTED"), None)

    return wait_for(got, timeout=10, what=f"INFO_REQUESTED for {tid}")


def test_ask_answer_read_and_release(world: World, tmp_path: Path) -> None:
    tid = held(world)
    sender_told(world, tid, "COMPLIANCE_HOLD")
    code, out = ask(world, tid, "What is the source of these funds?")
    assert code == 0, out
    heard = info_callback(world, tid)
    assert heard["ask"] == "What is the source of these funds?"
    assert heard["status"] == "COMPLIANCE_HOLD"

    status, receipt = answer(world, tid, "Salary, payslips attached.",
                             ("payslip.pdf", "application/pdf", PDF),
                             ("id.png", "image/png", png()), ("bill.jpg", "image/jpeg", JPEG))
    assert status == 201, receipt
    assert receipt["status"] == "COMPLIANCE_HOLD"
    kinds = {d["name"]: d["media_type"] for d in receipt["documents"]}
    assert kinds == {"payslip.pdf": "application/pdf", "id.png": "image/png",
                     "bill.jpg": "image/jpeg"}
    pdf = next(d for d in receipt["documents"] if d["name"] == "payslip.pdf")

    code, out = corridor(world, "compliance", "info", tid)
    assert code == 0, out
    assert "answered" in out and "Salary, payslips attached." in out
    assert f"document {pdf['id']}  payslip.pdf  application/pdf" in out
    assert pdf["sha256"] in out
    target = tmp_path / "payslip.pdf"
    code, out = corridor(world, "compliance", "document", pdf["id"], "--analyst", "alice",
                         "--out", str(target))
    assert code == 0, out
    assert target.read_bytes() == PDF
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    code, out = corridor(world, "compliance", "release", tid, "--analyst", "alice",
                         "--note", "documents are in order")
    assert code == 0, out
    assert wait_status(world, [tid]) == {tid: "COMPLETED"}
    trail = audit(world, tid)
    for step in ("compliance.info_requested", "compliance.info_answered",
                 "compliance.document_read", "compliance.decision"):
        assert step in trail, (step, trail)
    # No partner can read the documents: there is no partner call that serves them.
    status, body, _ = call(world, "payfast", "GET", f"/v1/transfers/{tid}/documents")
    assert status == 405, body


def test_refused_answers_change_nothing(world: World) -> None:
    tid = held(world)
    code, out = ask(world, tid, "Who is the beneficiary to the sender?")
    assert code == 0, out
    too_big = PDF + b"%" * (MAX_DOCUMENT + 1 - len(PDF))
    html = b"<html><body>not a pdf</body></html>"
    cases: list[tuple[tuple[tuple[str, str, bytes], ...], int, str]] = [
        ((("a.pdf", "application/pdf", too_big),), 413, "document_too_large"),
        ((("a.pdf", "application/pdf", html),), 415, "document_type_not_allowed"),
        ((("a.pdf", "application/pdf", png()),), 415, "document_type_mismatch"),
        ((), 422, "answer_empty"),
        ((("a.pdf", "application/pdf", PDF),) * 4, 422, "too_many_documents"),
    ]
    for docs, want_status, want_code in cases:
        status, body = answer(world, tid, "" if not docs else None, *docs)
        assert (status, body["code"]) == (want_status, want_code), body
    # Another send partner, even with a valid answer, does not find PayFast's transfer.
    status, body = answer(world, tid, "ours", ("a.pdf", "application/pdf", PDF),
                          partner="desertx")
    assert (status, body["code"]) == (404, "transfer_not_found"), body
    # Nothing changed: the request is still open, no document was stored.
    [request] = world.query(q.information_requests, tid)
    assert request[5] == "open"
    assert world.query(q.documents_of, tid) == []
    assert world.query(q.transfer, tid).status == "COMPLIANCE_HOLD"
    assert "compliance.info_answered" not in audit(world, tid)
    # A second question while one is open, and a transfer that is not held: refused.
    code, out = ask(world, tid, "Another?")
    assert code == 1 and "already has an unanswered information request" in out
    [done] = send(world, 1)
    wait_status(world, [done])
    status, body = answer(world, done, "late", ("a.pdf", "application/pdf", PDF))
    assert (status, body["code"]) == (409, "no_information_request"), body
    code, out = ask(world, done, "Why?")
    assert code == 1 and "not on compliance hold" in out
    corridor(world, "compliance", "reject", tid, "--analyst", "alice")


def test_no_answer_by_the_deadline_rejects_the_transfer(world: World) -> None:
    tid = held(world)
    code, out = ask(world, tid, "Please send the sender's payslip.", within="2s")
    assert code == 0, out
    info_callback(world, tid)
    assert wait_status(world, [tid], timeout=15) == {tid: "REJECTED"}
    row = world.query(q.transfer, tid)
    assert row.code == "information_not_provided"
    assert "Please send the sender's payslip." in row.reason
    sender_told(world, tid, "REJECTED")
    [request] = world.query(q.information_requests, tid)
    assert request[5] == "expired"
    assert "compliance.info_expired" in audit(world, tid)
    # The float was never reserved for a held transfer, and nothing moved.
    assert world.violations() == []
    assert json.loads(world.query(q.transfer_events, tid)[-1][-1])["status"] == "REJECTED"
