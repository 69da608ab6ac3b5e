"""`corridor bench rpt`: ingest speed, settlement over ten million transfers, report speed.

- ingest_events_per_s: a generated history (the same generator the tests use, in the feed's
  exact page format) is applied page by page to a DuckDB file store, through the code path
  the server uses (`Ingestor.apply`, one transaction per page with its cursor). The pages are
  held in memory, so this measures RPT, not the network; the HTTP path is the same call
  behind one GET per page.
- settlement_s: the fact table is filled with SQL inside DuckDB (`range()` and hash-based
  pseudo-random columns: going through Python would take minutes and measure nothing of
  RPT), every transfer completing within one business day, then the day's statement for
  every partner is built by `settlement.settle`. Median of three runs.
- feed_events_per_s: the same pages fetched over HTTPS with mutual TLS by the server's
  feed follower (`Feed.catch_up`, kept-alive connection, 5,000 events per GET) from a
  static page server on this host, then applied: the HTTP path of ingest.
- report_s: one partner's CSV transaction report covering the whole ingested history.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
import duckdb

from corridor.clikit import bench_site_option, open_site
from corridor.ports import free_port
from corridor.rpt import periods, reports
from corridor.rpt.feed import PAGES_PER_COMMIT
from corridor.rpt.history import generate
from corridor.rpt.ingest import Ingestor
from corridor.rpt.settlement import settle
from corridor.rpt.store import connect
from corridor.site.model import Site

# Settlement fixture: (send partner, send currency, receive partner, receive currency,
# corridor) chosen by transfer number; amounts are hash-derived, in minor units.
_FILL = """
INSERT INTO transfers
SELECT 'bench-' || i, 'ref-' || i, r.sp, r.rp, r.corridor,
       s AS send_amount, r.sc, (s * r.rate)::BIGINT, r.rc,
       5000 + s // 200, s // 70, r.rate::VARCHAR,
       $start + to_microseconds(i * $step_us), 'COMPLETED',
       $start + to_microseconds(i * $step_us + 3000000),
       $start + to_microseconds(i * $step_us + 3000000),
       NULL, NULL, md5((i % 500000)::VARCHAR), false, false, i
FROM (SELECT i, 10000 + hash(i) % 5000000 AS s, i % $routes AS k FROM range($n) t(i)) g
JOIN routes r ON r.k = g.k
"""


def _routes(con: duckdb.DuckDBPyConnection, site: Site) -> int:
    rows: list[tuple[int, str, str, str, str, str, float]] = []
    for sp in sorted(site.partners.values(), key=lambda p: p.id):
        if not sp.sends:
            continue
        for rp in sorted(site.partners.values(), key=lambda p: p.id):
            corridor = f"{sp.country}-{rp.country}"
            if rp.receives and corridor in site.hub.tariff.fees:
                rows.append((len(rows), sp.id, sp.currency, rp.id, rp.currency, corridor, 1.5))
    con.execute("CREATE OR REPLACE TEMP TABLE routes (k INT, sp VARCHAR, sc VARCHAR, "
                "rp VARCHAR, rc VARCHAR, corridor VARCHAR, rate DOUBLE)")
    con.executemany("INSERT INTO routes VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return len(rows)


def _ingest(site: Site, workdir: Path, transfers: int) -> tuple[float, int, float, float]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    history = generate(site, transfers=transfers, start=start, days=3, page_size=5_000,
                       ledger=False)
    con = connect(workdir / "ingest.duckdb")
    with Ingestor(con, workdir) as ing:
        began = time.perf_counter()
        # As the feed follower applies them while catching up: several pages a commit.
        pages = history.pages
        for i in range(0, len(pages), PAGES_PER_COMMIT):
            ing.apply_many(pages[i:i + PAGES_PER_COMMIT])
        took = time.perf_counter() - began
    period = periods.Period(history.start, history.end)
    began = time.perf_counter()
    body = reports.to_csv(reports.transaction_rows(con, site, "payfast", period))
    report_s = time.perf_counter() - began
    assert body
    con.close()
    feed = asyncio.run(_feed_http(site, workdir, history.pages, history.events))
    return history.events / took, history.events, report_s, feed


async def _feed_http(site: Site, workdir: Path, pages: list[bytes], events: int) -> float:
    """Serve the pages as TXN's feed would (mTLS, by cursor) and follow them."""
    import msgspec
    from aiohttp import web

    from corridor.pki.issue import create_ca, issue, write_issued
    from corridor.pki.tls import client_context, server_context
    from corridor.rpt.feed import Feed

    ca = create_ca("bench hub CA")
    for cn, server in (("txn", True), ("rpt", False)):
        leaf = issue(ca, cn, server_names=("127.0.0.1",) if server else (), client=not server,
                     server=server)
        write_issued(leaf, workdir / f"{cn}.crt", workdir / f"{cn}.key")
    write_issued(ca, workdir / "ca.crt")
    by_cursor, after = {}, 0
    for page in pages:
        by_cursor[after] = page
        after = msgspec.json.decode(page)["next"]

    async def feed(request: web.Request) -> web.Response:
        cursor = int(request.query["after"])
        body = by_cursor.get(cursor) or msgspec.json.encode({"events": [], "next": cursor})
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/internal/v1/events", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    sctx = server_context(workdir / "txn.crt", workdir / "txn.key", client_ca=workdir / "ca.crt")
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=sctx).start()
    con = connect(workdir / "feed.duckdb")
    try:
        with Ingestor(con, workdir) as ing:
            follower = Feed(site, ing, f"https://127.0.0.1:{port}", ssl_context=client_context(
                workdir / "ca.crt", workdir / "rpt.crt", workdir / "rpt.key"))
            began = time.perf_counter()
            counted = await follower.catch_up()
            took = time.perf_counter() - began
            await follower.close()
    finally:
        await runner.cleanup()
        con.close()
    assert counted == events
    return events / took




def _settlement(site: Site, workdir: Path, n: int) -> float:
    con = connect(workdir / "settle.duckdb")
    cutoff = site.hub.settlement_cutoff
    day = date(2026, 3, 2)
    period = periods.business_day(day, cutoff)
    routes = _routes(con, site)
    step_us = int((period.end - period.start - timedelta(seconds=10)).total_seconds()
                  * 1_000_000 // n)
    con.execute(_FILL, {"n": n, "routes": routes, "start": period.start, "step_us": step_us})
    con.execute("CHECKPOINT")
    runs = []
    for _ in range(3):
        began = time.perf_counter()
        st = settle(con, site, day, period)
        runs.append(time.perf_counter() - began)
        assert sum(s.count for s in st.sends) == n
    con.close()
    return statistics.median(runs)


@click.command()
@bench_site_option
@click.option("--transfers", default=10_000_000, show_default=True,
              help="Transfers in the settlement day.")
@click.option("--ingest-transfers", default=100_000, show_default=True,
              help="Transfers in the generated history that is ingested.")
def bench(site_dir: Path, transfers: int, ingest_transfers: int) -> None:
    """Measure RPT's ingest, settlement and report; print one JSON object."""
    site = open_site(site_dir)
    workdir = Path(tempfile.mkdtemp(prefix="corridor-rpt-bench-"))
    try:
        rate, events, report_s, feed_rate = _ingest(site, workdir, ingest_transfers)
        settlement_s = _settlement(site, workdir, transfers)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    click.echo(json.dumps({
        "transfers": transfers,
        "ingest_events_per_s": round(rate),
        "settlement_s": round(settlement_s, 3),
        "report_s": round(report_s, 3),
        "feed_events_per_s": round(feed_rate),
        "ingest_events": events,
        "ingest_transfers": ingest_transfers,
    }))
