"""Documents a send partner uploads to answer an analyst's information request
(`POST /v1/transfers/{id}/documents`): the contract EIG checks before anything is relayed
and TXN checks again before anything is stored.

A document is a PDF, a JPEG or a PNG of at most `MAX_DOCUMENT` bytes, at most
`MAX_DOCUMENTS` per answer. Its type is what libmagic (the engine of file(1)) reads in its
content; the Content-Type it was sent with must agree, and never decides. Refusals, each
with its stable code, change nothing:

- 413 `document_too_large`, 422 `too_many_documents`, 422 `answer_empty`,
  422 `answer_too_long`;
- 415 `document_type_not_allowed` (the content is none of the three),
  415 `document_type_mismatch` (the header names another type than the content is).
"""

from __future__ import annotations

import hashlib

import magic
import msgspec

from corridor.core.errors import BodyTooLarge, CorridorError, InvalidInput

MAX_DOCUMENT = 4 * 1024 * 1024
MAX_DOCUMENTS = 3
MAX_TEXT = 4000
ALLOWED = {"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG"}
# Names some clients give the same types.
ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "application/x-pdf":
           "application/pdf", "image/x-png": "image/png"}


class WrongType(CorridorError):
    status = 415


class DocumentUpload(msgspec.Struct, kw_only=True):
    """One document as EIG relays it to TXN (content base64 in JSON)."""

    name: str
    media_type: str  # as read from the content
    content: bytes


class InformationAnswer(msgspec.Struct, kw_only=True):
    text: str | None = None
    documents: list[DocumentUpload] = msgspec.field(default_factory=list)


class DocumentReceipt(msgspec.Struct, kw_only=True):
    id: str
    name: str
    media_type: str
    size: int
    sha256: str


class InformationAnswerReceipt(msgspec.Struct, kw_only=True):
    """The answer to `POST /v1/transfers/{id}/documents`."""

    transfer_id: str
    request_id: str
    status: str  # the transfer's: still COMPLIANCE_HOLD until the analyst decides
    text: str | None = None
    documents: list[DocumentReceipt] = msgspec.field(default_factory=list)


def media_type(content: bytes) -> str:
    """The type libmagic reads in the content (its MIME name)."""
    return str(magic.from_buffer(content[:65536], mime=True))


def check_document(name: str, declared: str | None, content: bytes) -> str:
    """The document's type (one of ALLOWED), or the refusal."""
    if len(content) > MAX_DOCUMENT:
        raise BodyTooLarge(f"{name}: {len(content)} bytes; a document is at most "
                           f"{MAX_DOCUMENT} bytes", code="document_too_large")
    found = media_type(content) if content else "application/x-empty"
    if found not in ALLOWED:
        raise WrongType(f"{name} is {found}; send a PDF, JPEG or PNG",
                        code="document_type_not_allowed")
    said = (declared or "").split(";")[0].strip().lower()
    said = ALIASES.get(said, said)
    if said and said != "application/octet-stream" and said != found:
        raise WrongType(f"{name} was sent as {said} but its content is {found}",
                        code="document_type_mismatch")
    return found


def check_answer(text: str | None, count: int) -> None:
    if count > MAX_DOCUMENTS:
        raise InvalidInput(f"at most {MAX_DOCUMENTS} documents per answer",
                           code="too_many_documents")
    if text is not None and len(text) > MAX_TEXT:
        raise InvalidInput(f"the text is at most {MAX_TEXT} characters", code="answer_too_long")
    if not (text or "").strip() and count == 0:
        raise InvalidInput("an answer needs text or at least one document",
                           code="answer_empty")


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
