"""The partner API's ISO 20022 doors, behind the same mTLS, allowlist, API key and rate
limit as the JSON calls (the gateway's `admit` runs first; its refusals stay problem+json,
as the caller is not yet known).

`POST /v1/iso20022/pacs.002`: a bank receive partner reports a payout's outcome, signed
with its callback secret (`Corridor-Signature` over the XML body). The message is parsed
strictly and validated against its XSD here, then relayed to TXN unchanged, which checks
the signature and applies it as a receiver callback.

Every answer is a pacs.002.001.10: ACTC for a message taken, RJCT with the ISO reason code
of `corridor.iso20022.codes` (and Corridor's code in AddtlInf) for one refused, whether
EIG or TXN refused it. Every refusal is written to the audit log with its code; nothing
reaches TXN from a message EIG refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from corridor.api.schemas import Problem
from corridor.core.errors import BodyTooLarge, CorridorError, Refused, Unauthenticated
from corridor.eig.errors import UnsupportedMediaType
from corridor.eig.requests import IDEMPOTENCY_KEY, Call
from corridor.iso20022 import CONTENT_TYPE, pacs002, parse
from corridor.iso20022.schema import MAX_MESSAGE
from corridor.tracing import inject

if TYPE_CHECKING:
    from corridor.eig.app import Gateway

STATUS_REPORT = Call("iso_status_report", "POST", "/v1/iso20022/pacs.002", "receive",
                     batched=True)
_XML_TYPES = frozenset({"application/xml", "text/xml"})
_PROBLEM = msgspec.json.Decoder(Problem)


def xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=CONTENT_TYPE)


async def read_xml(request: web.Request) -> bytes:
    ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if ctype not in _XML_TYPES:
        raise UnsupportedMediaType("send the message as application/xml")
    if request.content_length is not None and request.content_length > MAX_MESSAGE:
        raise BodyTooLarge(f"the message is larger than {MAX_MESSAGE} bytes")
    return await request.read()


class IsoDoors:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def routes(self) -> list[tuple[Call, web.RouteDef]]:
        return [(STATUS_REPORT, web.post(STATUS_REPORT.path,
                                         self.gw.traced(STATUS_REPORT, self.status_report),
                                         name=STATUS_REPORT.name))]

    def refuse(self, request: web.Request, exc: CorridorError, original: str,
               message_id: str | None, transfer_id: str | None) -> web.Response:
        self.gw.refused_call(request, exc.code, exc.detail, transfer_id)
        return xml(pacs002.refusal(exc.code, exc.detail, original_message=original,
                                   original_message_id=message_id), exc.status)

    async def status_report(self, request: web.Request) -> web.StreamResponse:
        from corridor.eig.app import PARTNER

        partner = request[PARTNER]  # type: ignore[call-overload]  # eig.app keys requests with an AppKey
        message_id = transfer_id = None
        try:
            if not partner.receives:
                raise Refused(f"{partner.id} is not a receive partner: it sends no pacs.002",
                              code="role_not_allowed")
            body = await read_xml(request)
            _, root = parse(body, pacs002.MESSAGE)
            report = pacs002.read(root)
            message_id, transfer_id = report.message_id, report.transfer_id
            signature = request.headers.get("Corridor-Signature")
            if not signature:
                raise Unauthenticated("the pacs.002 is not signed", code="signature_missing")
            key = request.headers.get("Idempotency-Key") or message_id
            if not IDEMPOTENCY_KEY.match(key):
                key = message_id
            headers = {"Corridor-Partner": partner.id, "Content-Type": CONTENT_TYPE,
                       "Corridor-Signature": signature, "Idempotency-Key": key}
            inject(headers)
            answer = await self.gw.relay(STATUS_REPORT, "/internal/v1/iso20022/pacs.002",
                                         headers, body)
        except CorridorError as exc:
            return self.refuse(request, exc, pacs002.MESSAGE, message_id, transfer_id)
        if answer.status >= 300:
            try:
                found = _PROBLEM.decode(answer.body)
                code, detail = found.code, found.detail
            except msgspec.DecodeError:
                code, detail = "txn_refused", None
            refused = CorridorError(detail or code, code=code)
            refused.status = answer.status
            return self.refuse(request, refused, pacs002.MESSAGE, message_id, transfer_id)
        return xml(pacs002.build(status="ACTC", transfer_id_=None,
                                 original_message_id=message_id,
                                 original_message=pacs002.MESSAGE))
