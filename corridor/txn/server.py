"""The internal HTTPS API of TXN (docs/internal-api.md), served with aiohttp on uvloop.

Only callers presenting a hub-CA client certificate get a TLS session at all; the common
name then decides what they may call: `eig` relays partner calls, `rpt` (and `eig`) read
the event feed and the ledger. Every error is problem+json with a stable `code`; no
traceback ever reaches a caller.

Here are the routes and the processes that serve them; the HTTP edge (problem+json,
metrics, caller checks) is `corridor.txn.web`, the relayed partner calls
`corridor.txn.relay`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web
from opentelemetry.trace import NoOpTracer
from prometheus_client import CollectorRegistry, generate_latest

from corridor.api.internal import BATCH_PATH
from corridor.core.errors import InvalidInput
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_listener
from corridor.settings import Settings
from corridor.site.model import Site
from corridor.tracing import Tracing
from corridor.txn import gauges
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine, bounded_int
from corridor.txn.relay import RELAYED, batch, relayed
from corridor.txn.web import (
    CONNECTORS,
    ENGINE,
    MAX_BODY,
    METRICS,
    REGISTRY,
    TRACER,
    TxnMetrics,
    allow,
    count,
    partner_id,
    reply,
)
from corridor.web import error_middleware

log = logging.getLogger("corridor.txn.server")


@allow("eig")
async def get_transfer(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    return reply(200, await engine.get_transfer(partner_id(request), request.match_info["id"]))


@allow("eig")
async def list_transfers(request: web.Request) -> web.StreamResponse:
    engine = request.app[ENGINE]
    return reply(200, await engine.list_transfers(partner_id(request), dict(request.query)))


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
    app = web.Application(middlewares=[error_middleware(count)], client_max_size=MAX_BODY)
    app[ENGINE] = engine
    app[CONNECTORS] = connectors
    app[TRACER] = NoOpTracer()
    registry = CollectorRegistry()
    app[REGISTRY] = registry
    app[METRICS] = TxnMetrics(registry)
    gauges.install(app, engine, registry)

    def on_group(size: int, seconds: float) -> None:
        app[METRICS]["groups"].observe(size)
        app[METRICS]["commit"].observe(seconds)

    engine.writer.on_group = on_group
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
    """The outbox pumps as tasks: sender-callback delivery, and the payout worker and the
    recall forwarder unless payouts are held (accepted transfers then wait in the outbox,
    as after a crash)."""
    from corridor.txn.delivery import Policy, SenderCallbacks
    from corridor.txn.recalls import RecallForwarder
    from corridor.txn.worker import Worker

    tasks = [asyncio.create_task(SenderCallbacks(engine, Policy.of(settings)).run(stop))]
    if not hold_payouts:
        tasks.append(asyncio.create_task(Worker(engine, connectors, settings).run(stop)))
        tasks.append(asyncio.create_task(
            RecallForwarder(engine, connectors, settings).run(stop)))
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
    tracing = Tracing(settings, data_dir, "txn")
    app[TRACER] = tracing.tracer
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    contexts = hub_listener(Layout(site.root), "txn", revocations=False)
    await web.TCPSite(runner, host, port, ssl_context=contexts.following(),
                      backlog=1024).start()
    watcher = asyncio.create_task(contexts.watch())
    log.info("TXN listening on https://%s:%d (store %s)", host, port, dsn.split("?")[0])
    tasks = (pumps(engine, connectors, stop, settings, hold_payouts=hold_payouts)
             if run_pumps else [])
    try:
        await stop.wait()
    finally:
        watcher.cancel()
        await asyncio.gather(*tasks)
        await runner.cleanup()
        await connectors.close()
        engine.stop()
        tracing.close()


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
