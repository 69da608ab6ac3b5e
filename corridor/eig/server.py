"""`corridor serve eig`: the partner listener (mutual TLS) and the internal listener
(/healthz, /metrics, /openapi.json; plain HTTP on the hub's internal address).

Several processes can serve side by side (`--workers`, SO_REUSEPORT): EIG keeps no money
state, and each process reloads the CRL and the partners on its own.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from corridor import processes
from corridor.eig.app import Gateway, follow_limiter, openapi_handler
from corridor.eig.audit import SecurityAuditLog
from corridor.eig.metrics import EigMetrics
from corridor.eig.partners import PartnerDirectory
from corridor.eig.ratelimit import DEFAULT_BURST, DEFAULT_RATE, RateLimiter
from corridor.eig.tlslayer import HandshakeFailure, audit_handshakes, listen
from corridor.eig.upstream import Rpt, Txn, rpt_url, txn_urls
from corridor.patches.aiohttp_request_handler import handler_factory
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client, partner_listener
from corridor.settings import Settings
from corridor.tracing import Tracing

log = logging.getLogger("corridor.eig")


@dataclass(frozen=True)
class Options:
    site_dir: Path
    data_dir: Path
    host: str | None = None  # default: the site's listen.eig
    port: int | None = None
    internal_port: int | None = None
    txn_url: str | None = None  # default: the site's TXN hosts (`txn_urls`)
    rpt_url: str | None = None  # default: the site's listen.rpt
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    reuse_port: bool = False
    hello: bool = False  # serve GET /v1/hello (for the bench)
    settings: Settings = field(default_factory=Settings)  # tracing's knobs


def audit_path(data_dir: Path) -> Path:
    return data_dir / "eig" / "security-audit.jsonl"


async def serve(opts: Options, ready: asyncio.Event | None = None) -> None:
    loop = asyncio.get_running_loop()
    partners = PartnerDirectory(opts.site_dir)
    site = partners.site
    layout = Layout(opts.site_dir)
    contexts = partner_listener(layout, prepare=audit_handshakes)
    audit = SecurityAuditLog(audit_path(opts.data_dir))
    tracing = Tracing(opts.settings, opts.data_dir, "eig")
    metrics = EigMetrics(opts.site_dir)
    tls = hub_client(layout, "eig")
    txn = Txn(opts.txn_url or txn_urls(site), tls)
    rpt = Rpt(opts.rpt_url or rpt_url(site), tls, pool=16)
    await txn.start()
    await rpt.start()
    gateway = Gateway(partners, {"txn": txn, "rpt": rpt}, audit, metrics,
                      RateLimiter(opts.rate, opts.burst), contexts, tracing=tracing,
                      trace_follow=follow_limiter(opts.settings))

    def on_failure(f: HandshakeFailure) -> None:
        claimed = partners.directory.by_pin.get(f.fingerprint or "")
        gateway.refused(f.reason, f.source_ip, f.subject, f.fingerprint,
                        claimed.id if claimed else None, "TLS handshake", f.detail)

    runner = web.AppRunner(gateway.partner_app(opts.hello), access_log=None, handle_signals=False)
    await runner.setup()
    listen_eig = site.hub.listen["eig"]
    host = opts.host or listen_eig.host
    port = opts.port if opts.port is not None else listen_eig.port
    server = await listen(loop, handler_factory(runner.server), contexts, on_failure,
                          host, port, reuse_port=opts.reuse_port)

    internal = web.Application()
    internal.router.add_get("/healthz", _healthz)
    internal.router.add_get("/openapi.json", openapi_handler)

    async def metrics_handler(request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest(metrics.registry))
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    internal.router.add_get("/metrics", metrics_handler)
    internal_runner = web.AppRunner(internal, access_log=None, handle_signals=False)
    await internal_runner.setup()
    listen_int = site.hub.listen.get("eig_internal")
    int_host = listen_int.host if listen_int else "127.0.0.1"
    int_port = opts.internal_port if opts.internal_port is not None else (
        listen_int.port if listen_int else 9443)
    await web.TCPSite(internal_runner, int_host, int_port, reuse_port=opts.reuse_port).start()

    watchers = [loop.create_task(contexts.watch()), loop.create_task(partners.watch())]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("EIG listening on %s:%s (internal %s:%s), TXN at %s, RPT at %s", host, port,
             int_host, int_port, txn.base_url, rpt.base_url)
    print(f"eig: listening on https://{host}:{port} internal http://{int_host}:{int_port}",
          file=sys.stderr, flush=True)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        for task in watchers:
            task.cancel()
        server.close()
        await runner.cleanup()
        await internal_runner.cleanup()
        await txn.close()
        await rpt.close()
        audit.close()
        tracing.close()


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def run(opts: Options, workers: int = 1) -> None:
    """Run in the foreground; with several workers, fork them onto one SO_REUSEPORT port."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    processes.relax_gc()
    if workers <= 1:
        uvloop.run(serve(opts))
        return
    opts = Options(**{**opts.__dict__, "reuse_port": True})
    children = processes.Workers()
    for _ in range(workers):
        children.fork(lambda: uvloop.run(serve(opts)))

    def forward(signum: int, _frame: object) -> None:
        children.signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    children.wait()
