"""The internal HTTPS API of TXN (docs/internal-api.md), served with aiohttp on uvloop.

Only callers presenting a hub-CA client certificate get a TLS session at all; the common
name then decides what they may call: `eig` relays partner calls, `rpt` (and `eig`) read
the event feed and the ledger. Every error is problem+json with a stable `code`; no
traceback ever reaches a caller.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from corridor.core.errors import CorridorError, InvalidInput, Refused, Unauthenticated
from corridor.pki.tls import peer_common_name, server_context
from corridor.site.model import Site
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

ENGINE = web.AppKey("engine", Engine)
CONNECTORS = web.AppKey("connectors", Connectors)
METRICS = web.AppKey("metrics", dict)  # a Metrics
REGISTRY = web.AppKey("registry", CollectorRegistry)


def problem(status: int, code: str, detail: str, **extra: object) -> web.Response:
    body = {"type": f"https://corridor.example/problems/{code}", "title": code.replace("_", " "),
            "status": status, "code": code, "detail": detail, **extra}
    return web.Response(status=status, body=encode(body), content_type=PROBLEM)


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


def idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        raise CorridorError("the Idempotency-Key header is required",
                            code="idempotency_key_missing")
    if len(key) > 200:
        raise InvalidInput("the Idempotency-Key header is too long", code="invalid_request")
    return key


def reply(status: int, body: bytes | str) -> web.Response:
    return web.Response(status=status, body=body.encode() if isinstance(body, str) else body,
                        content_type=JSON)


@allow("eig")
async def post_quote(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    r = await engine.quote(partner_id(request), idempotency_key(request), await request.read())
    return reply(r.status, r.body)


@allow("eig")
async def post_transfer(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    r = await engine.create_transfer(partner_id(request), idempotency_key(request),
                                     await request.read())
    engine.wake()
    return reply(r.status, r.body)


@allow("eig")
async def get_transfer(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    return reply(200, await engine.get_transfer(partner_id(request), request.match_info["id"]))


@allow("eig")
async def list_transfers(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    return reply(200, await engine.list_transfers(partner_id(request), dict(request.query)))


@allow("eig")
async def cancel_transfer(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    r = await engine.cancel(partner_id(request), idempotency_key(request),
                            request.match_info["id"], await request.read())
    engine.wake()
    return reply(r.status, r.body)


@allow("eig")
async def validate_account(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    return reply(200, await engine.validate_account(
        partner_id(request), await request.read(), request.app[CONNECTORS]))


@allow("eig")
async def receiver_callback(request: web.Request) -> web.StreamResponse:
    from corridor.txn.callbacks import receiver_callback as apply

    body = await request.read()
    ack = await apply(request.app[ENGINE], partner_id(request), body,
                      request.headers.get("Corridor-Signature"))
    request.app[ENGINE].wake()
    return reply(200, encode(ack))


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

    def on_batch(size: int, seconds: float) -> None:
        app[METRICS]["batches"].observe(size)
        app[METRICS]["commit"].observe(seconds)

    engine.writer.on_batch = on_batch
    r = app.router
    r.add_post("/internal/v1/quotes", post_quote)
    r.add_post("/internal/v1/accounts/validate", validate_account)
    r.add_post("/internal/v1/transfers", post_transfer)
    r.add_get("/internal/v1/transfers", list_transfers)
    r.add_get("/internal/v1/transfers/{id}", get_transfer)
    r.add_post("/internal/v1/transfers/{id}/cancel", cancel_transfer)
    r.add_post("/internal/v1/callbacks/receiver", receiver_callback)
    r.add_get("/internal/v1/events", events)
    r.add_get("/internal/v1/ledger/balances", balances)
    r.add_get("/internal/v1/ledger/activity", activity)
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics)
    return app


def tls_context(site: Site) -> ssl.SSLContext:
    """TXN's server certificate; clients must chain to the hub CA."""
    pki = site.root / "pki"
    return server_context(pki / "hub" / "txn.crt", pki / "hub" / "txn.key",
                          client_ca=pki / "hub-ca.crt")


def pumps(engine: Engine, connectors: Connectors, stop: asyncio.Event, *,
          hold_payouts: bool = False) -> list[asyncio.Task[None]]:
    """The outbox pumps as tasks: sender-callback delivery, and the payout worker unless
    payouts are held (accepted transfers then wait in the outbox, as after a crash)."""
    from corridor.txn.delivery import SenderCallbacks
    from corridor.txn.worker import Worker

    tasks = [asyncio.create_task(SenderCallbacks(engine).run(stop))]
    if not hold_payouts:
        tasks.append(asyncio.create_task(Worker(engine, connectors).run(stop)))
    return tasks


async def serve(site: Site, dsn: str, data_dir: Path, host: str, port: int,
                stop: asyncio.Event, *, run_pumps: bool = True, hold_payouts: bool = False,
                wake_pipes: Sequence[int] = ()) -> None:
    """Run the server and (with `run_pumps`) the payout worker and sender-callback
    delivery until `stop` is set. When the pumps run in other processes, `wake_pipes` are
    the write ends of pipes that tell them of new outbox messages."""
    engine = Engine(site, dsn, data_dir)
    engine.wake_pipes = list(wake_pipes)
    engine.start()
    connectors = Connectors(site)
    app = make_app(engine, connectors)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls_context(site), backlog=1024).start()
    log.info("TXN listening on https://%s:%d (store %s)", host, port, dsn.split("?")[0])
    tasks = pumps(engine, connectors, stop, hold_payouts=hold_payouts) if run_pumps else []
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*tasks)
        await runner.cleanup()
        await connectors.close()
        engine.stop()


async def serve_pumps(site: Site, dsn: str, data_dir: Path, stop: asyncio.Event, *,
                      wake_pipe: int | None = None, hold_payouts: bool = False) -> None:
    """Run only the outbox pumps (a worker process beside the API process), with their
    own group-commit writer, until `stop` is set. Claims lease each message to one
    worker, so several such processes share the work."""
    engine = Engine(site, dsn, data_dir)
    engine.start()
    if wake_pipe is not None:
        engine.hear_wakes(wake_pipe)
    connectors = Connectors(site)
    tasks = pumps(engine, connectors, stop, hold_payouts=hold_payouts)
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*tasks)
        await connectors.close()
        engine.stop()
