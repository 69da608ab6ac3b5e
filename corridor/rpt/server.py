"""RPT's HTTPS server (aiohttp): report endpoints for EIG, the operator dashboard and its
JSON, and the feed follower running beside them. Listens on hub.yaml `listen.rpt` with
RPT's server certificate and requires a client certificate from the hub CA that the hub
CA's CRL does not revoke: checked at the handshake, and again on each request of a
connection already open, with the CRL reloaded without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import duckdb
import msgspec
from aiohttp import web
from prometheus_client import generate_latest

from corridor.core.errors import InvalidInput, Refused
from corridor.pki.tls import ContextHolder, peer_certificate, peer_common_name
from corridor.rpt import access, metrics, ops, periods, reports, settlement, verify
from corridor.rpt.exporter import FeedCollector, registry_for
from corridor.rpt.feed import Feed
from corridor.rpt.store import cursor
from corridor.site.model import Site
from corridor.site.watch import SiteWatch
from corridor.web import Handler, error_middleware, problem_response

STATIC = resources.files("corridor.rpt").joinpath("static")

log = logging.getLogger("corridor.rpt")




def peer_cn(request: web.Request) -> str | None:
    """The CN of the client certificate, read from the TLS transport itself."""
    return peer_common_name(request.transport)


class Rpt:
    """The server's state: the site, the store, the feed it follows and its TLS."""

    def __init__(self, site: Site, con: duckdb.DuckDBPyConnection, data_dir: Path,
                 feed: Feed | None = None, *, contexts: ContextHolder) -> None:
        self.site, self.con, self.data_dir, self.feed = site, con, data_dir, feed
        self.contexts = contexts
        self.exporter = FeedCollector(feed.status if feed else None)
        self.registry = registry_for(self.exporter)

    async def query(self, fn: Callable[..., object], *args: object) -> object:
        """Run a store query off the event loop on its own cursor."""
        def call() -> object:
            cur = self.con.cursor()
            try:
                return fn(cur, *args)
            finally:
                cur.close()
        return await asyncio.to_thread(call)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware(), self.admit])
        app.add_routes([
            web.get("/healthz", self.healthz),
            web.get("/metrics", self.metrics),
            web.get("/internal/v1/reports/transactions", self.transactions),
            web.get("/internal/v1/reports/settlement", self.settlement),
            web.get("/internal/v1/reports/compliance", self.compliance),
            web.get("/internal/v1/reports/activity", self.activity),
            web.get("/", self.dashboard),
            web.get("/dashboard.js", self.script),
            web.get("/api/dashboard", self.dashboard_data),
        ])
        app.cleanup_ctx.append(self._watch_crl)
        app.cleanup_ctx.append(self._follow_site)
        if self.feed is not None:
            app.cleanup_ctx.append(self._follow)
        return app

    @web.middleware
    async def admit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Refuse a request on a connection whose certificate was revoked or expired after
        its handshake, and close the connection: no later request on it can pass."""
        cert = peer_certificate(request.transport)
        try:
            access.require_standing(cert, self.contexts.revoked, time.time())
        except Refused as exc:
            log.warning("refused %s on an open connection: %s", cert and cert.common_name,
                        exc.code)
            exc.closes_connection = True
            return problem_response(exc)
        return await handler(request)

    async def _watch_crl(self, app: web.Application):  # type: ignore[no-untyped-def]  # an aiohttp cleanup context
        task = asyncio.create_task(self.contexts.watch())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _follow_site(self, app: web.Application):  # type: ignore[no-untyped-def]  # an aiohttp cleanup context
        """Keep the site in step with the directory (`corridor.site.watch`): a partner
        onboarded or edited has its reports without a restart."""
        def use(site: Site) -> None:
            self.site = site
            if self.feed is not None:
                self.feed.site = site

        task = asyncio.create_task(SiteWatch(self.site.root, lambda s: s, use).watch())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _follow(self, app: web.Application):  # type: ignore[no-untyped-def]  # an aiohttp cleanup context
        assert self.feed is not None
        task = asyncio.create_task(self.feed.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await self.feed.close()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        """Prometheus metrics, for any hub-CA certificate (as TXN's `/metrics`)."""
        self.exporter.position = await self.query(cursor)  # type: ignore[assignment]  # query returns what cursor returns
        return web.Response(body=generate_latest(self.registry), content_type="text/plain",
                            charset="utf-8")

    async def transactions(self, request: web.Request) -> web.Response:
        cn = peer_cn(request)
        access.require(cn, access.REPORTS)
        q = request.query
        partner = access.partner_for(cn, request.headers.get("Corridor-Partner"),
                                     q.get("partner"))
        settlement.check_partner(self.site, partner)
        fmt = q.get("format", "json")
        if fmt not in ("json", "csv"):
            raise InvalidInput(f"format {fmt[:10]!r} is not csv or json", code="invalid_format")
        period = periods.report_period(q.get("from"), q.get("to"), datetime.now(UTC))
        rows = await self.query(reports.transaction_rows, self.site, partner, period)
        if fmt == "csv":
            name = f"{partner}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
            return web.Response(body=reports.to_csv(rows), content_type="text/csv",  # type: ignore[arg-type]  # query returns the report's rows
                                headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return web.Response(body=reports.to_json(partner, period, rows),  # type: ignore[arg-type]  # query returns the report's rows
                            content_type="application/json")

    async def settlement(self, request: web.Request) -> web.Response:
        cn = peer_cn(request)
        access.require(cn, access.REPORTS)
        q = request.query
        partner: str | None
        if cn == "eig" or request.headers.get("Corridor-Partner") or q.get("partner"):
            partner = access.partner_for(cn, request.headers.get("Corridor-Partner"),
                                         q.get("partner"))
        else:
            partner = None  # an operator asking for every partner
        settlement.check_partner(self.site, partner)
        cutoff = self.site.hub.settlement_cutoff
        period = periods.settlement_day(q.get("date"), cutoff, datetime.now(UTC))
        day = periods.parse_date(q.get("date"))
        st = await self.query(settlement.settle, self.site, day, period, partner)
        body = st.as_dict(for_partner=cn == "eig")
        return web.Response(body=msgspec.json.encode(body),
                            content_type="application/json")

    async def compliance(self, request: web.Request) -> web.Response:
        access.require(peer_cn(request), access.OPERATE)
        q = request.query
        period = periods.report_period(q.get("from"), q.get("to"), datetime.now(UTC))
        body = await self.query(metrics.compliance, self.site, period,
                                self.site.hub.settlement_cutoff)
        return web.json_response(body)

    async def activity(self, request: web.Request) -> web.Response:
        """The ledger movement RPT's data implies (what `corridor rpt verify` compares)."""
        access.require(peer_cn(request), access.OPERATE)
        q = request.query
        period = periods.report_period(q.get("from"), q.get("to"), datetime.now(UTC))
        moved = await self.query(verify.expected_activity, period)
        return web.json_response([{"account": a, "currency": c, "posted": v}
                                  for (a, c), v in sorted(moved.items())])  # type: ignore[attr-defined]  # query returns what expected_activity returns

    async def dashboard(self, request: web.Request) -> web.Response:
        access.require(peer_cn(request), access.OPERATE)
        return web.Response(body=STATIC.joinpath("dashboard.html").read_bytes(),
                            content_type="text/html", charset="utf-8")

    async def script(self, request: web.Request) -> web.Response:
        access.require(peer_cn(request), access.OPERATE)
        return web.Response(body=STATIC.joinpath("dashboard.js").read_bytes(),
                            content_type="application/javascript", charset="utf-8")

    async def dashboard_data(self, request: web.Request) -> web.Response:
        access.require(peer_cn(request), access.OPERATE)
        body = await self.query(self._dashboard, datetime.now(UTC))
        return web.Response(body=msgspec.json.encode(body), content_type="application/json")

    def _dashboard(self, con: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, object]:
        window = metrics.recent(now)
        cutoff = self.site.hub.settlement_cutoff
        day = periods.business_day_of(now, cutoff)
        st = settlement.settle(con, self.site, day, periods.business_day(day, cutoff))
        comp = metrics.compliance(con, self.site, window, cutoff)
        after, events = cursor(con)
        feed = self.feed.status if self.feed else None
        return {
            "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "window": {"from": window.start.isoformat(), "to": now.isoformat()},
            "feed": {"after": after, "events": events,
                     "state": feed.state if feed else "not following",
                     "error": feed.error if feed else None},
            "series": metrics.series(con, window),
            "rejections": comp["rejections"],
            "compliance": {"screening_hits": comp["screening_hits"]["transfers"],  # type: ignore[index]  # query returns the compliance summary
                           "holds": comp["holds"], "large": len(comp["large"]),  # type: ignore[arg-type]  # query returns the compliance summary
                           "structuring": len(comp["structuring"])},  # type: ignore[arg-type]  # query returns the compliance summary
            "settlement": st.as_dict(),
            "tunnels": ops.tunnels(self.data_dir),
            "certificates": ops.certificates(self.site.root, now),
        }


async def serve(rpt: Rpt, host: str, port: int) -> web.AppRunner:
    """Start listening; the caller keeps the runner and cleans it up."""
    runner = web.AppRunner(rpt.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=rpt.contexts.following()).start()
    return runner
