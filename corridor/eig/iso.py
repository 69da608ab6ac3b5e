"""The partner API's ISO 20022 doors, behind the same mTLS, allowlist, API key and rate
limit as the JSON calls (the gateway's `admit` runs first; its refusals stay problem+json,
as the caller is not yet known).

`POST /v1/iso20022/pacs.008`: a bank send partner whose partner file has an `iso20022`
block sends a transfer; EIG reads it into the partner API's own quote and transfer calls
(`corridor.iso20022.sender`) and relays them to TXN, so one engine serves both paths.

`POST /v1/iso20022/pacs.004`: a bank receive partner gives a completed payout back; the
same checks, then TXN books the return (corridor.txn.iso_callbacks).

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
from corridor.eig.requests import IDEMPOTENCY_KEY, OPERATIONS, Operation, decode
from corridor.iso20022 import CONTENT_TYPE, pacs002, pacs004, pacs008, parse, sender
from corridor.iso20022.errors import MessageRefused
from corridor.iso20022.schema import MAX_MESSAGE
from corridor.tracing import current

if TYPE_CHECKING:
    from corridor.eig.app import Gateway

STATUS_REPORT = Operation("iso_status_report", "POST", "/v1/iso20022/pacs.002", "receive",
                          coalesced=True)
PAYMENT_RETURN = Operation("iso_payment_return", "POST", "/v1/iso20022/pacs.004", "receive",
                           coalesced=True)
CREDIT_TRANSFER = Operation("iso_credit_transfer", "POST", "/v1/iso20022/pacs.008", "send")
_OPERATIONS = {o.name: o for o in OPERATIONS}
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

    def routes(self) -> list[tuple[Operation, web.RouteDef]]:
        return [(call, web.post(call.path, self.gw.traced(call, handler), name=call.name))
                for call, handler in ((STATUS_REPORT, self.status_report),
                                      (PAYMENT_RETURN, self.payment_return),
                                      (CREDIT_TRANSFER, self.credit_transfer))]

    def refuse(self, request: web.Request, exc: CorridorError, original: str,
               message_id: str | None, transfer_id: str | None) -> web.Response:
        self.gw.refused_call(request, exc.code, exc.detail, transfer_id)
        return xml(pacs002.refusal(exc.code, exc.detail, original_message=original,
                                   original_message_id=message_id), exc.status)

    async def status_report(self, request: web.Request) -> web.StreamResponse:
        return await self._from_receiver(request, STATUS_REPORT, pacs002.MESSAGE)

    async def payment_return(self, request: web.Request) -> web.StreamResponse:
        return await self._from_receiver(request, PAYMENT_RETURN, pacs004.MESSAGE)

    async def _from_receiver(self, request: web.Request, call: Operation,
                             message: str) -> web.StreamResponse:
        """A signed message from a bank receive partner (a pacs.002 outcome, a pacs.004
        return): parsed and validated here, relayed unchanged to TXN, which checks the
        signature and applies it."""
        from corridor.eig.app import PARTNER

        partner = request[PARTNER]  # type: ignore[call-overload]  # eig.app keys requests with an AppKey
        message_id = transfer_id = None
        try:
            if not partner.receives:
                raise Refused(f"{partner.id} is not a receive partner: it sends no "
                              f"{message[:8]}", code="role_not_allowed")
            body = await read_xml(request)
            _, root = parse(body, message)
            if message == pacs004.MESSAGE:
                back = pacs004.read(root)  # refuses more decimals than the currency has
                message_id, transfer_id = back.message_id, back.transfer_id
            else:
                report = pacs002.read(root)
                message_id, transfer_id = report.message_id, report.transfer_id
            signature = request.headers.get("Corridor-Signature")
            if not signature:
                raise Unauthenticated(f"the {message[:8]} is not signed",
                                      code="signature_missing")
            key = request.headers.get("Idempotency-Key") or message_id
            if not IDEMPOTENCY_KEY.match(key):
                key = message_id
            headers = {"Corridor-Partner": partner.id, "Content-Type": CONTENT_TYPE,
                       "Corridor-Signature": signature, "Idempotency-Key": key}
            if (hop := current()) is not None:
                hop.headers(headers)  # the trace goes on to TXN
            answer = await self.gw.relay(call, f"/internal{call.path}", headers, body)
        except CorridorError as exc:
            return self.refuse(request, exc, message, message_id, transfer_id)
        if answer.status >= 300:
            return self.refuse(request, _refusal(answer.status, answer.body), message,
                               message_id, transfer_id)
        return xml(pacs002.build(status="ACTC", transfer_id_=None,
                                 original_message_id=message_id, original_message=message))

    async def _json_call(self, request: web.Request, name: str, path: str, key: str,
                         payload: dict[str, object]) -> dict[str, object]:
        """Relay one partner API call made on the partner's behalf, checked as EIG checks
        the same call made in JSON; its JSON answer, or the refusal it got raised."""
        from corridor.eig.app import PARTNER

        call = _OPERATIONS[name]
        body = msgspec.json.encode(payload)
        decode(call, body)  # the wire schema and the call's own checks
        headers = {"Corridor-Partner": request[PARTNER].id,  # type: ignore[call-overload]  # eig.app keys requests with an AppKey
                   "Content-Type": "application/json", "Idempotency-Key": key}
        if (hop := current()) is not None:
            hop.headers(headers)  # the trace goes on to TXN
        answer = await self.gw.relay(call, path, headers, body)
        if answer.status >= 300:
            raise _refusal(answer.status, answer.body)
        data = msgspec.json.decode(answer.body)
        assert isinstance(data, dict)
        return data

    async def credit_transfer(self, request: web.Request) -> web.StreamResponse:
        """A bank send partner's pacs.008: a quote for its amount and a transfer on that
        quote, relayed to TXN as the JSON calls they are, under Idempotency-Keys derived
        from the message's MsgId (the same pacs.008 again gets the same answer, never a
        second transfer). Answered with a pacs.002: ACSP (accepted), PDNG (held for
        compliance) or RJCT with its reason code."""
        from corridor.eig.app import PARTNER

        partner = request[PARTNER]  # type: ignore[call-overload]  # eig.app keys requests with an AppKey
        message_id = None
        try:
            if not partner.sends:
                raise Refused(f"{partner.id} is not a send partner: it sends no pacs.008",
                              code="role_not_allowed")
            if partner.iso20022 is None:
                raise Refused(f"{partner.id} has not chosen ISO 20022 (its partner file has "
                              "no iso20022 block)", code="iso20022_not_enabled")
            body = await read_xml(request)
            _, root = parse(body, pacs008.MESSAGE)
            ct = pacs008.read(root)  # refuses more decimals than the currency has
            message_id = ct.message_id
            key = f"iso-{message_id}"
            if not IDEMPOTENCY_KEY.match(key):
                raise MessageRefused("MsgId must be 1-35 of A-Z a-z 0-9 . _ : -",
                                     code="invalid_request", status=422)
            quote = await self._json_call(request, "create_quote", "/internal/v1/quotes",
                                          f"{key}:q", sender.quote_request(ct))
            transfer = await self._json_call(
                request, "create_transfer", "/internal/v1/transfers", f"{key}:t",
                sender.transfer_request(ct, str(quote["id"])))
        except CorridorError as exc:
            return self.refuse(request, exc, pacs008.MESSAGE, message_id, None)
        # Created, as in JSON, whatever its state: a REJECTED transfer's pacs.002 is RJCT.
        return xml(sender.transfer_status(transfer, original_message_id=message_id,
                                          tx_id=ct.tx_id), 201)


def _refusal(status: int, body: bytes) -> CorridorError:
    """TXN's problem+json answer as the error it stands for."""
    try:
        found = _PROBLEM.decode(body)
        code, detail = found.code, found.detail
    except msgspec.DecodeError:
        code, detail = "txn_refused", None
    refused = CorridorError(detail or code, code=code)
    refused.status = status
    return refused
