"""The internal HTTPS API of TXN (docs/internal-api.md), served with aiohttp on uvloop.

Only callers presenting a hub-CA client certificate get a TLS session at all; the common
name then decides what they may call: `eig` relays partner calls, `rpt` (and `eig`) read
the event feed and the ledger. Every error is problem+json with a stable `code`; no
traceback ever reaches a caller.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from corridor.core.errors import (
    CorridorError,
    InvalidInput,
    NotFound,
    Refused,
    Unauthenticated,
)
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_server, peer_common_name
from corridor.settings import Settings
from corridor.site.model import Site
from corridor.txn import gauges
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine, bounded_int
from corridor.txn.wire import encode

log = logging.getLogger("corridor.txn.server")
MAX_BODY = 64 * 1024
PARTNER = "Corridor-Partner"
JSON = "application/json"
PROBLEM = "application/problem+json"
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
              413: "body_too_large"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyTooLarge(CorridorError):
    status = 413
    code = "body_too_large"
    title = "Request body too large"

ENGINE = web.AppKey("engine", Engine)
CONNECTORS = web.AppKey("connectors", Connectors)
METRICS = web.AppKey("metrics", dict)  # a Metrics
REGISTRY = web.AppKey("registry", CollectorRegistry)


def _problem_body(status: int, code: str, detail: str, **extra: object) -> bytes:
    return encode({"type": f"https://corridor.example/problems/{code}",
                   "title": code.replace("_", " "), "status": status, "code": code,
                   "detail": detail, **extra})


def problem(status: int, code: str, detail: str, **extra: object) -> web.Response:
    return web.Response(status=status, body=_problem_body(status, code, detail, **extra),
                        content_type=PROBLEM)


def caller(request: web.Request) -> str | None:
    """The common name of the verified client certificate (None over plain TCP)."""
    return peer_common_name(request.transport)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    try:
        response = await handler(request)
    except CorridorError as exc:
        response = web.Response(status=exc.status, body=encode(exc.problem()),
                                content_type=PROBLEM)
    except web.HTTPException as exc:
        code = HTTP_CODES.get(exc.status, f"http_{exc.status}")
        response = problem(exc.status, code, exc.reason)
    except Exception:  # the last line of defence: log it, tell the caller nothing inside
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = problem(500, "internal_error", "the request failed inside TXN")
    counted = request.app[METRICS].bound(route, response.status)
    counted[0].inc()
    counted[1].observe(time.perf_counter() - started)
    return response


class Metrics(dict[str, Any]):
    """TXN's Prometheus metrics, with the labelled children of each (route, status) looked
    up once rather than on every request."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(
            requests=Counter("corridor_txn_requests", "Internal API requests",
                             ["route", "status"], registry=registry),
            latency=Histogram("corridor_txn_request_seconds", "Internal API latency",
                              ["route"], registry=registry),
            batches=Histogram("corridor_txn_batch_size", "Commands per group commit",
                              buckets=(1, 4, 16, 64, 256, 1024, 4096), registry=registry),
            commit=Histogram("corridor_txn_batch_seconds", "Group commit duration",
                             registry=registry),
        )
        self._bound: dict[tuple[str, int], tuple[Any, Any]] = {}

    def bound(self, route: str, status: int) -> tuple[Any, Any]:
        """(request counter, latency histogram) children for a route and status."""
        found = self._bound.get((route, status))
        if found is None:
            found = self._bound[(route, status)] = (
                self["requests"].labels(route, str(status)), self["latency"].labels(route))
        return found


def allow(*names: str) -> Callable[[Handler], Handler]:
    """Let only callers whose certificate CN is one of `names` reach the handler."""
    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            cn = caller(request)
            if cn not in names:
                raise Refused(f"{cn or 'this caller'} may not call {request.path}",
                              code="caller_not_allowed")
            return await handler(request)
        return checked
    return wrap


def partner_id(request: web.Request) -> str:
    value = request.headers.get(PARTNER)
    if not value:
        raise Unauthenticated(f"the {PARTNER} header is missing", code="partner_missing")
    return value


def reply(status: int, body: bytes | str) -> web.Response:
    return web.Response(status=status, body=body.encode() if isinstance(body, str) else body,
                        content_type=JSON)


class Relayed(msgspec.Struct, array_like=True, frozen=True):
    """One partner call as EIG relays it, whether alone (path, headers and body of its own
    request) or as an item of `POST /internal/v1/batch` (this struct on the wire)."""

    method: str
    path: str
    partner: str | None = None
    key: str | None = None
    signature: str | None = None
    body: bytes = b""

    def partner_id(self) -> str:
        if not self.partner:
            raise Unauthenticated(f"the {PARTNER} header is missing", code="partner_missing")
        return self.partner

    def idempotency_key(self) -> str:
        if not self.key:
            raise CorridorError("the Idempotency-Key header is required",
                                code="idempotency_key_missing")
        if len(self.key) > 200:
            raise InvalidInput("the Idempotency-Key header is too long",
                               code="invalid_request")
        return self.key


class Answered(msgspec.Struct, array_like=True):
    """TXN's answer to one relayed call: an item of the batch reply."""

    status: int
    content_type: str
    body: bytes


# A use case behind a relayed call: (engine, connectors, call, path parameters) -> answer.
Op = Callable[[Engine, Connectors, Relayed, dict[str, str]], Awaitable[Answered]]


async def op_quote(engine: Engine, _c: Connectors, call: Relayed,
                   _p: dict[str, str]) -> Answered:
    r = await engine.quote(call.partner_id(), call.idempotency_key(), call.body)
    return Answered(r.status, JSON, _bytes(r.body))


async def op_transfer(engine: Engine, _c: Connectors, call: Relayed,
                      _p: dict[str, str]) -> Answered:
    r = await engine.create_transfer(call.partner_id(), call.idempotency_key(), call.body)
    return Answered(r.status, JSON, _bytes(r.body))


async def op_cancel(engine: Engine, _c: Connectors, call: Relayed,
                    params: dict[str, str]) -> Answered:
    r = await engine.cancel(call.partner_id(), call.idempotency_key(), params["id"], call.body)
    return Answered(r.status, JSON, _bytes(r.body))


async def op_receiver_callback(engine: Engine, _c: Connectors, call: Relayed,
                               _p: dict[str, str]) -> Answered:
    from corridor.txn.callbacks import receiver_callback as apply

    ack = await apply(engine, call.partner_id(), call.body, call.signature)
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
                       await request.read() if request.method == "POST" else b"")
        a = await op(request.app[ENGINE], request.app[CONNECTORS], call,
                     dict(request.match_info))
        return web.Response(status=a.status, body=a.body, content_type=a.content_type)
    return handle


@allow("eig")
async def get_transfer(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    return reply(200, await engine.get_transfer(partner_id(request), request.match_info["id"]))


@allow("eig")
async def list_transfers(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    return reply(200, await engine.list_transfers(partner_id(request), dict(request.query)))


# The relayed partner calls, by route: each may also come as an item of a batch.
RELAYED: dict[str, Op] = {
    "/internal/v1/quotes": op_quote,
    "/internal/v1/accounts/validate": op_validate_account,
    "/internal/v1/transfers": op_transfer,
    "/internal/v1/transfers/{id}/cancel": op_cancel,
    "/internal/v1/callbacks/receiver": op_receiver_callback,
}
_CANCEL = re.compile(r"^/internal/v1/transfers/([^/]+)/cancel$")
BATCH_PATH = "/internal/v1/batch"
MSGPACK = "application/msgpack"
MAX_BATCH_ITEMS = 1024
MAX_BATCH_BODY = 4 * 1024 * 1024
_decode_batch = msgspec.msgpack.Decoder(list[Relayed]).decode
_encode_batch = msgspec.msgpack.Encoder().encode


def _route(call: Relayed) -> tuple[str, Op, dict[str, str]]:
    """(route, use case, path parameters) of a batch item; 404 for anything else."""
    if call.method == "POST":
        op = RELAYED.get(call.path)
        if op is not None:
            return call.path, op, {}
        found = _CANCEL.match(call.path)
        if found:
            return "/internal/v1/transfers/{id}/cancel", op_cancel, {"id": found[1]}
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
        answer = await op(app[ENGINE], app[CONNECTORS], call, params)
    except CorridorError as exc:
        answer = Answered(exc.status, PROBLEM, encode(exc.problem()))
    except Exception:  # as the middleware: log it, tell the caller nothing inside
        log.exception("unhandled error on batched %s %s", call.method, call.path[:100])
        answer = Answered(500, PROBLEM, _problem_body(500, "internal_error",
                                                      "the request failed inside TXN"))
    counted = app[METRICS].bound(route, answer.status)
    counted[0].inc()
    counted[1].observe(time.perf_counter() - started)
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
        calls = _decode_batch(data)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"the batch is not a list of calls: {exc}",
                           code="invalid_batch") from None
    if len(calls) > MAX_BATCH_ITEMS:
        raise BodyTooLarge(f"a batch is at most {MAX_BATCH_ITEMS} calls")
    app = request.app
    answers = await asyncio.gather(*(_answer(app, call) for call in calls))
    return web.Response(body=_encode_batch(answers), content_type=MSGPACK)


@allow("rpt", "eig")
async def events(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    after = _query_int(request, "after", 0, 0, 2**62)
    limit = _query_int(request, "limit", 500, 1, 5000)
    return reply(200, await engine.events(after, limit))


@allow("rpt", "eig")
async def balances(request: web.Request) -> web.StreamResponse:
    return reply(200, await request.app[ENGINE].balances())


@allow("rpt", "eig")
async def activity(request: web.Request) -> web.StreamResponse:
    since, until = request.query.get("from"), request.query.get("to")
    if not since or not until:
        raise InvalidInput("from and to are required", code="invalid_request")
    return reply(200, await request.app[ENGINE].activity(since, until))


async def healthz(request: web.Request) -> web.StreamResponse:
    return reply(200, b'{"status":"ok"}')


async def metrics(request: web.Request) -> web.StreamResponse:
    await gauges.refresh(request.app)
    return web.Response(body=generate_latest(request.app[REGISTRY]),
                        content_type="text/plain", charset="utf-8")


def _query_int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    text = request.query.get(name)
    return default if text is None else bounded_int(text, name, lo, hi)


def make_app(engine: Engine, connectors: Connectors) -> web.Application:
    app = web.Application(middlewares=[problems], client_max_size=MAX_BODY)
    app[ENGINE] = engine
    app[CONNECTORS] = connectors
    registry = CollectorRegistry()
    app[REGISTRY] = registry
    app[METRICS] = Metrics(registry)
    gauges.install(app, engine, registry)

    def on_batch(size: int, seconds: float) -> None:
        app[METRICS]["batches"].observe(size)
        app[METRICS]["commit"].observe(seconds)

    engine.writer.on_batch = on_batch
    r = app.router
    for path, op in RELAYED.items():
        r.add_post(path, relayed(op))
    r.add_get("/internal/v1/transfers", list_transfers)
    r.add_get("/internal/v1/transfers/{id}", get_transfer)
    r.add_post(BATCH_PATH, batch)
    r.add_get("/internal/v1/events", events)
    r.add_get("/internal/v1/ledger/balances", balances)
    r.add_get("/internal/v1/ledger/activity", activity)
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics)
    return app


def pumps(engine: Engine, connectors: Connectors, stop: asyncio.Event, settings: Settings, *,
          hold_payouts: bool = False) -> list[asyncio.Task[None]]:
    """The outbox pumps as tasks: sender-callback delivery, and the payout worker unless
    payouts are held (accepted transfers then wait in the outbox, as after a crash)."""
    from corridor.txn.delivery import Policy, SenderCallbacks
    from corridor.txn.worker import Worker

    tasks = [asyncio.create_task(SenderCallbacks(engine, Policy.of(settings)).run(stop))]
    if not hold_payouts:
        tasks.append(asyncio.create_task(Worker(engine, connectors, settings).run(stop)))
    return tasks


async def serve(site: Site, dsn: str, data_dir: Path, host: str, port: int,
                stop: asyncio.Event, settings: Settings, *, run_pumps: bool = True,
                hold_payouts: bool = False, wake_pipes: Sequence[int] = ()) -> None:
    """Run the server and (with `run_pumps`) the payout worker and sender-callback
    delivery until `stop` is set. When the pumps run in other processes, `wake_pipes` are
    the write ends of pipes that tell them of new outbox messages."""
    engine = Engine(site, dsn, data_dir)
    engine.wake_pipes = list(wake_pipes)
    engine.start()
    connectors = Connectors(site, settings)
    app = make_app(engine, connectors)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    tls = hub_server(Layout(site.root), "txn")
    await web.TCPSite(runner, host, port, ssl_context=tls, backlog=1024).start()
    log.info("TXN listening on https://%s:%d (store %s)", host, port, dsn.split("?")[0])
    tasks = (pumps(engine, connectors, stop, settings, hold_payouts=hold_payouts)
             if run_pumps else [])
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*tasks)
        await runner.cleanup()
        await connectors.close()
        engine.stop()


async def serve_pumps(site: Site, dsn: str, data_dir: Path, stop: asyncio.Event,
                      settings: Settings, *, wake_pipe: int | None = None,
                      hold_payouts: bool = False) -> None:
    """Run only the outbox pumps (a worker process beside the API process), with their
    own group-commit writer, until `stop` is set. Claims lease each message to one
    worker, so several such processes share the work."""
    engine = Engine(site, dsn, data_dir)
    engine.start()
    if wake_pipe is not None:
        engine.hear_wakes(wake_pipe)
    connectors = Connectors(site, settings)
    tasks = pumps(engine, connectors, stop, settings, hold_payouts=hold_payouts)
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*tasks)
        await connectors.close()
        engine.stop()
