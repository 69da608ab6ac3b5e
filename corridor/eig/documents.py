"""Reading a partner's answer to an information request (`POST /v1/transfers/{id}/
documents`, multipart/form-data): a `text` field and up to three `document` files. Each
file is read with a bound (a larger one is refused as soon as it passes the bound, not after
the whole upload) and its type is checked from its content (`corridor.api.documents`);
what passes is relayed to TXN as JSON, which checks it again before storing anything."""

from __future__ import annotations

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from corridor.api.documents import (
    MAX_DOCUMENT,
    MAX_DOCUMENTS,
    MAX_TEXT,
    DocumentUpload,
    InformationAnswer,
    check_answer,
    check_document,
)
from corridor.core.errors import BodyTooLarge, InvalidInput
from corridor.eig.errors import UnsupportedMediaType

FORM = "multipart/form-data"
# What aiohttp's multipart reader raises on a form that does not parse.
_MALFORMED = (AssertionError, ValueError, HttpProcessingError)


async def _read(part: BodyPartReader, bound: int, what: str, code: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            chunk = await part.read_chunk(64 * 1024)
        except _MALFORMED as exc:
            raise InvalidInput(f"the form does not parse: {exc}", code="invalid_form") from None
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > bound:
            raise BodyTooLarge(f"{what} is over {bound} bytes", code=code)
        chunks.append(chunk)


async def read_answer(request: web.Request) -> InformationAnswer:
    """The form as an `InformationAnswer`, or the refusal (nothing is relayed)."""
    try:
        return await _read_answer(request)
    except _MALFORMED as exc:  # anywhere in aiohttp's reading of the parts' heads
        raise InvalidInput(f"the form does not parse: {str(exc)[:200]}",
                           code="invalid_form") from None


async def _read_answer(request: web.Request) -> InformationAnswer:
    if request.content_type != FORM:
        raise UnsupportedMediaType(f"send the answer as {FORM}: a `text` field and "
                                   "`document` files", code="unsupported_media_type")
    try:
        reader = await request.multipart()
    except _MALFORMED as exc:
        raise InvalidInput(f"the form does not parse: {exc}", code="invalid_form") from None
    text: str | None = None
    documents: list[DocumentUpload] = []
    while True:
        try:
            part = await reader.next()
        except _MALFORMED as exc:
            raise InvalidInput(f"the form does not parse: {exc}", code="invalid_form") from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart parts are not accepted", code="invalid_form")
        if part.name == "text":
            raw = await _read(part, MAX_TEXT * 4, "the text", "answer_too_long")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput("the text is not UTF-8", code="invalid_form") from None
        elif part.name == "document":
            if len(documents) == MAX_DOCUMENTS:
                raise InvalidInput(f"at most {MAX_DOCUMENTS} documents per answer",
                                   code="too_many_documents")
            name = (part.filename or f"document-{len(documents) + 1}")[:200]
            content = await _read(part, MAX_DOCUMENT, name, "document_too_large")
            kind = check_document(name, part.headers.get("Content-Type"), content)
            documents.append(DocumentUpload(name=name, media_type=kind, content=content))
        else:
            raise InvalidInput(f"unknown form field {str(part.name)[:40]!r}: send `text` "
                               "and `document`", code="invalid_form")
    check_answer(text, len(documents))
    return InformationAnswer(text=text, documents=documents)
