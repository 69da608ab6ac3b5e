"""Partner calls EIG relays to TXN (docs/internal-api.md): each on its own request, or
many in one `POST /internal/v1/batch`, where each call is still applied and answered on
its own."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from corridor.api.internal import (
    MAX_BATCH_BODY,
    MAX_BATCH_ITEMS,
    MSGPACK,
    Answered,
    Relayed,
    decode_calls,
    encode_batch,
)
from corridor.core.errors import (
    BodyTooLarge,
    CorridorError,
    InternalError,
    InvalidInput,
    NotFound,
)
from corridor.tracing import Hop, current
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from corridor.txn.web import (
    CONNECTORS,
    ENGINE,
    JSON,
    MAX_BODY,
    METRICS,
    PARTNER,
    allow,
)
from corridor.txn.wire import encode
from corridor.web import PROBLEM, Handler

log = logging.getLogger("corridor.txn.server")


class _Created(msgspec.Struct):
    id: str


_created = msgspec.json.Decoder(_Created)


# A use case behind a relayed call: (engine, connectors, call, path parameters) -> answer.
Op = Callable[[Engine, Connectors, Relayed, dict[str, str]], Awaitable[Answered]]


async def op_quote(engine: Engine, _c: Connectors, call: Relayed,
                   _p: dict[str, str]) -> Answered:
    r = await engine.quote(call.partner_id(), call.idempotency_key(), call.body)
    return Answered(r.status, JSON, _bytes(r.body))


async def op_transfer(engine: Engine, _c: Connectors, call: Relayed,
                      _p: dict[str, str]) -> Answered:
    r = await engine.create_transfer(call.partner_id(), call.idempotency_key(), call.body)
    hop = current()
    if hop is not None and hop.recording and r.status < 300:  # for `corridor trace`
        hop.set("corridor.transfer_id", _created.decode(r.body).id)
    return Answered(r.status, JSON, _bytes(r.body))


async def op_cancel(engine: Engine, _c: Connectors, call: Relayed,
                    params: dict[str, str]) -> Answered:
    r = await engine.cancel(call.partner_id(), call.idempotency_key(), params["id"], call.body)
    return Answered(r.status, JSON, _bytes(r.body))


async def op_recall(engine: Engine, _c: Connectors, call: Relayed,
                    params: dict[str, str]) -> Answered:
    r = await engine.recall(call.partner_id(), call.idempotency_key(), params["id"], call.body)
    return Answered(r.status, JSON, _bytes(r.body))


async def op_receiver_callback(engine: Engine, _c: Connectors, call: Relayed,
                               _p: dict[str, str]) -> Answered:
    from corridor.txn.callbacks import receiver_callback as apply

    ack = await apply(engine, call.partner_id(), call.body, call.signature)
    return Answered(200, JSON, encode(ack))


async def op_iso_status_report(engine: Engine, _c: Connectors, call: Relayed,
                               _p: dict[str, str]) -> Answered:
    from corridor.txn.iso_callbacks import status_report

    ack = await status_report(engine, call.partner_id(), call.body, call.signature)
    return Answered(200, JSON, encode(ack))


async def op_iso_payment_return(engine: Engine, _c: Connectors, call: Relayed,
                                _p: dict[str, str]) -> Answered:
    from corridor.txn.iso_callbacks import payment_return

    ack = await payment_return(engine, call.partner_id(), call.body, call.signature)
    return Answered(200, JSON, encode(ack))


async def op_validate_account(engine: Engine, connectors: Connectors, call: Relayed,
                              _p: dict[str, str]) -> Answered:
    return Answered(200, JSON, await engine.validate_account(
        call.partner_id(), call.body, connectors))


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def relayed(op: Op) -> Handler:
    """The route handler of a relayed partner call made on its own: EIG only."""
    @allow("eig")
    async def handle(request: web.Request) -> web.StreamResponse:
        call = Relayed(request.method, request.path, request.headers.get(PARTNER),
                       request.headers.get("Idempotency-Key"),
                       request.headers.get("Corridor-Signature"),
                       await request.read() if request.method == "POST" else b"",
                       request.headers.get("traceparent"))
        with _span(request.app, call):
            a = await op(request.app[ENGINE], request.app[CONNECTORS], call,
                         dict(request.match_info))
        return web.Response(status=a.status, body=a.body, content_type=a.content_type)
    return handle


# The relayed partner calls, by route: each may also come as an item of a batch.
RELAYED: dict[str, Op] = {
    "/internal/v1/quotes": op_quote,
    "/internal/v1/accounts/validate": op_validate_account,
    "/internal/v1/transfers": op_transfer,
    "/internal/v1/transfers/{id}/cancel": op_cancel,
    "/internal/v1/transfers/{id}/recall": op_recall,
    "/internal/v1/callbacks/receiver": op_receiver_callback,
    "/internal/v1/iso20022/pacs.002": op_iso_status_report,
    "/internal/v1/iso20022/pacs.004": op_iso_payment_return,
}
_CANCEL = re.compile(r"^/internal/v1/transfers/([^/]+)/cancel$")
_RECALL = re.compile(r"^/internal/v1/transfers/([^/]+)/recall$")


def _span(app: web.Application, call: Relayed) -> Hop:
    """TXN's hop of one relayed call, in the trace of the `traceparent` EIG passed on (EIG
    decided whether it is recorded; TXN starts no trace of its own here)."""
    return app[ENGINE].tracing.hop(f"txn {call.method} {call.path}", call.traceparent,
                                   {"corridor.partner": call.partner or ""}, root=False)


def _route(call: Relayed) -> tuple[str, Op, dict[str, str]]:
    """(route, use case, path parameters) of a batch item; 404 for anything else."""
    if call.method == "POST":
        op = RELAYED.get(call.path)
        if op is not None:
            return call.path, op, {}
        found = _CANCEL.match(call.path)
        if found:
            return "/internal/v1/transfers/{id}/cancel", op_cancel, {"id": found[1]}
        found = _RECALL.match(call.path)
        if found:
            return "/internal/v1/transfers/{id}/recall", op_recall, {"id": found[1]}
    raise NotFound(f"{call.method} {call.path[:100]} cannot be batched", code="not_found")


async def _answer(app: web.Application, call: Relayed) -> Answered:
    """One batch item, answered exactly as the same call made alone would be: its own
    status and body, problem+json when it fails, whatever happens to the others."""
    started = time.perf_counter()
    route = "unmatched"
    try:
        if len(call.body) > MAX_BODY:
            raise BodyTooLarge(f"the body is larger than {MAX_BODY} bytes")
        route, op, params = _route(call)
        with _span(app, call):
            answer = await op(app[ENGINE], app[CONNECTORS], call, params)
    except CorridorError as exc:
        answer = Answered(exc.status, PROBLEM, encode(exc.problem()))
    except Exception:  # as the middleware: log it, tell the caller nothing inside
        log.exception("unhandled error on batched %s %s", call.method, call.path[:100])
        failed = InternalError("the request failed inside TXN")
        answer = Answered(failed.status, PROBLEM, encode(failed.problem()))
    app[METRICS].edge.count(route, answer.status, time.perf_counter() - started)
    return answer


@allow("eig")
async def batch(request: web.Request) -> web.StreamResponse:
    """Many relayed partner calls in one request (docs/internal-api.md): one HTTP exchange
    for EIG and TXN, while each call is applied and answered on its own."""
    length = request.content_length
    if length is None:
        raise InvalidInput("a batch needs a Content-Length", code="invalid_batch")
    if length > MAX_BATCH_BODY:
        raise BodyTooLarge(f"a batch is at most {MAX_BATCH_BODY} bytes")
    # Read past the app's client_max_size, which is the limit of one call, not a batch.
    data = await request.content.readexactly(length)
    try:
        calls = decode_calls(data)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the batch is not a list of calls: {exc}",
                           code="invalid_batch") from None
    if len(calls) > MAX_BATCH_ITEMS:
        raise BodyTooLarge(f"a batch is at most {MAX_BATCH_ITEMS} calls")
    app = request.app
    answers = await asyncio.gather(*(_answer(app, call) for call in calls))
    return web.Response(body=encode_batch(answers), content_type=MSGPACK)
