"""`corridor rpt ...` for operators and `corridor serve rpt`."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import click
import duckdb

from corridor.clikit import data_option, fail, friendly_errors, open_site, site_option
from corridor.rpt import periods
from corridor.rpt.amounts import grouped
from corridor.rpt.store import connect, store_path
from corridor.site.model import Site


def _open_store(site: Site, data_dir: Path, *, write: bool = False
                ) -> duckdb.DuckDBPyConnection | None:
    """The store, or None when a running `corridor serve rpt` holds it (ask the server).
    Only `write` (`serve rpt`, `rpt ingest`) creates it; the readers refuse a place that
    holds none, so that a mistyped --data is not answered with empty reports."""
    path = store_path(site, data_dir)
    try:
        return connect(path, read_only=not write)
    except duckdb.IOException as exc:
        if not write and not path.exists():
            where = ("--data (or CORRIDOR_DATA) at the data directory"
                     if not Path(site.hub.store_rpt).is_absolute()
                     else "--site (or CORRIDOR_SITE) at the site")
            fail(f"no RPT store at {path}; point {where} of a running hub")
        if "lock" in str(exc).lower() and not write:
            return None
        if "lock" in str(exc).lower():
            fail(f"the RPT store {path} is in use by a running `corridor serve rpt`")
        fail(f"cannot open the RPT store {path}: {exc}")
    raise AssertionError("unreachable")


@click.group()
def rpt() -> None:
    """Reports, settlement statements, compliance metrics and reconciliation (RPT)."""


@rpt.command()
@site_option
@data_option
@friendly_errors
def ingest(site_dir: Path, data_dir: Path) -> None:
    """Catch up with TXN's event feed once, then exit."""
    from corridor.httppool import TransportError
    from corridor.rpt.feed import Feed, open_ingestor

    site = open_site(site_dir)
    con = _open_store(site, data_dir, write=True)
    assert con is not None

    async def run() -> int:
        with open_ingestor(con, data_dir) as ing:
            feed = Feed(site, ing)
            try:
                return await feed.catch_up()
            finally:
                await feed.close()

    try:
        counted = asyncio.run(run())
    except TransportError as exc:
        fail(f"cannot reach TXN's event feed: {exc}")
    from corridor.rpt.store import cursor

    after, events = cursor(con)
    click.echo(f"counted {counted} new events; cursor at {after} ({events} events in all)")


@rpt.command()
@site_option
@data_option
@click.option("--partner", required=True, help="Partner id.")
@click.option("--from", "start", required=True, help="YYYY-MM-DD or RFC 3339 (inclusive).")
@click.option("--to", "end", required=True, help="YYYY-MM-DD (whole day) or RFC 3339.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout.")
@friendly_errors
def report(site_dir: Path, data_dir: Path, partner: str, start: str, end: str, fmt: str,
           output: Path | None) -> None:
    """A partner's transaction report for a period."""
    from corridor.rpt import reports
    from corridor.rpt.settlement import check_partner

    site = open_site(site_dir)
    check_partner(site, partner)
    period = periods.report_period(start, end, datetime.now(UTC))
    con = _open_store(site, data_dir)
    if con is None:
        from corridor.rpt.remote import ask

        body = ask(site, "/internal/v1/reports/transactions",
                   {"partner": partner, "from": start, "to": end, "format": fmt})
        count = body.count(b"\n") - 1 if fmt == "csv" else None
    else:
        rows = reports.transaction_rows(con, site, partner, period)
        body = reports.to_csv(rows) if fmt == "csv" else reports.to_json(partner, period, rows)
        count = len(rows)
    if output is None:
        sys.stdout.buffer.write(body + (b"" if fmt == "csv" else b"\n"))
    else:
        output.write_bytes(body)
        click.echo(f"{count if count is not None else 'the'} transfers written to {output}",
                   err=True)


@rpt.command()
@site_option
@data_option
@click.option("--date", "day", required=True, help="Business day, YYYY-MM-DD.")
@click.option("--partner", help="Only this partner (default: every partner).")
@click.option("--json", "as_json", is_flag=True, help="Print the statement as JSON.")
@friendly_errors
def settle(site_dir: Path, data_dir: Path, day: str, partner: str | None, as_json: bool) -> None:
    """The settlement statement of one business day (cut-off to cut-off, UTC)."""
    from corridor.rpt.settlement import Statement, check_partner
    from corridor.rpt.settlement import settle as build

    site = open_site(site_dir)
    check_partner(site, partner)
    cutoff = site.hub.settlement_cutoff
    period = periods.settlement_day(day, cutoff, datetime.now(UTC))
    con = _open_store(site, data_dir)
    if con is None:
        from corridor.rpt.remote import ask

        body = ask(site, "/internal/v1/reports/settlement", {"date": day, "partner": partner})
        st = Statement.from_dict(json.loads(body))
    else:
        st = build(con, site, periods.parse_date(day), period, partner)
    if as_json:
        click.echo(json.dumps(st.as_dict(), indent=2))
        return
    click.echo(f"Settlement for business day {day}: {period.start:%Y-%m-%d %H:%M} to "
               f"{period.end:%Y-%m-%d %H:%M} UTC (cut-off {cutoff:%H:%M})")
    if not st.sends and not st.receives:
        click.echo("No transfers completed in this business day.")
    for s in st.sends:
        c = s.currency
        click.echo(f"  sent     {s.partner:<12} {c}  {s.count:>8} transfers  gross "
                   f"{grouped(s.gross_sent, c):>18}  fees {grouped(s.fees, c):>14}  "
                   f"FX margin {grouped(s.fx_margin, c):>14}  float debited "
                   f"{grouped(s.debited, c):>18}")
    for r in st.receives:
        c = r.currency
        click.echo(f"  paid out {r.partner:<12} {c}  {r.count:>8} transfers  gross "
                   f"{grouped(r.paid_out, c):>18}")
    for p in st.positions:
        for line in p.instructions:
            click.echo(f"  -> {line}")


@rpt.command()
@site_option
@data_option
@click.option("--from", "start", required=True)
@click.option("--to", "end", required=True)
@friendly_errors
def compliance(site_dir: Path, data_dir: Path, start: str, end: str) -> None:
    """Compliance metrics for a period, as JSON."""
    from corridor.rpt.metrics import compliance as build

    site = open_site(site_dir)
    period = periods.report_period(start, end, datetime.now(UTC))
    con = _open_store(site, data_dir)
    if con is None:
        from corridor.rpt.remote import ask

        body = json.loads(ask(site, "/internal/v1/reports/compliance", {"from": start, "to": end}))
    else:
        body = build(con, site, period, site.hub.settlement_cutoff)
    click.echo(json.dumps(body, indent=2))


@rpt.command()
@site_option
@data_option
@click.option("--from", "start", help="Period start (YYYY-MM-DD or RFC 3339).")
@click.option("--to", "end", help="Period end (YYYY-MM-DD: whole day, or RFC 3339).")
@click.option("--date", "day", help="A business day instead of --from/--to.")
@click.option("--txn-url", help="TXN's internal API (default: hub.yaml listen.txn).")
@friendly_errors
def verify(site_dir: Path, data_dir: Path, start: str | None, end: str | None,
           day: str | None, txn_url: str | None) -> None:
    """Compare RPT's totals with TXN's ledger for a period; exit 1 on any difference."""
    from corridor.rpt.verify import compare, expected_activity, txn_activity

    site = open_site(site_dir)
    now = datetime.now(UTC)
    if day:
        period = periods.settlement_day(day, site.hub.settlement_cutoff, now)
    else:
        period = periods.report_period(start, end, now)
    con = _open_store(site, data_dir)
    if con is None:
        from corridor.rpt.remote import ask

        bounds = {"from": f"{period.start:%Y-%m-%dT%H:%M:%SZ}",
                  "to": f"{period.end:%Y-%m-%dT%H:%M:%SZ}"}
        rows = json.loads(ask(site, "/internal/v1/reports/activity", bounds))
        ours = {(r["account"], r["currency"]): int(r["posted"]) for r in rows}
    else:
        ours = expected_activity(con, period)
    diffs = compare(ours, txn_activity(site, period, txn_url))
    what = f"{period.start:%Y-%m-%dT%H:%M:%SZ} to {period.end:%Y-%m-%dT%H:%M:%SZ}"
    if diffs:
        for d in diffs:
            click.echo(f"difference: {d}")
        fail(f"{len(diffs)} ledger accounts differ from TXN for {what}")
    click.echo(f"RPT matches TXN's ledger for {what}: {len(ours)} accounts, to the minor unit")


@rpt.command("operator-cert")
@site_option
@click.argument("name")
@friendly_errors
def operator_cert(site_dir: Path, name: str) -> None:
    """Issue an operator's client certificate (CN=operator-NAME) for the dashboard.

    Revoke it with `corridor rpt operator-revoke NAME`.
    """
    from corridor.rpt.operators import issue_operator

    site = open_site(site_dir)
    paths = issue_operator(site.root, name)
    for p in paths:
        click.echo(str(p))


@rpt.command("operator-revoke")
@site_option
@click.argument("name")
@friendly_errors
def operator_revoke(site_dir: Path, name: str) -> None:
    """Revoke an operator's certificate (CN=operator-NAME) in the hub CA's CRL.

    Within a second, without a restart, RPT refuses it: a new connection fails the TLS
    handshake, and a connection already open gets 403 certificate_revoked at its next
    request and is closed.
    """
    from corridor.rpt.operators import revoke_operator

    site = open_site(site_dir)
    serial = revoke_operator(site.root, name)
    click.echo(f"revoked operator-{name} serial {serial:x}")


@click.command()
@site_option
@data_option
@click.option("--no-feed", is_flag=True, help="Serve the store without following TXN.")
@friendly_errors
def serve(site_dir: Path, data_dir: Path, no_feed: bool) -> None:
    """Run RPT: follow TXN's feed and serve reports and the dashboard on listen.rpt."""
    from corridor.rpt.feed import Feed, open_ingestor
    from corridor.rpt.server import Rpt, rpt_server_contexts
    from corridor.rpt.server import serve as start

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    site = open_site(site_dir)
    listen = site.hub.listen.get("rpt")
    if listen is None:
        fail("hub.yaml has no listen.rpt")
    try:
        contexts = rpt_server_contexts(site)
    except (OSError, ValueError) as exc:
        fail(f"RPT's certificate is missing or unreadable, or the hub CRL does not load "
             f"({exc}); run `corridor pki bootstrap`")
    con = _open_store(site, data_dir, write=True)
    assert con is not None

    async def main() -> None:
        with open_ingestor(con, data_dir) as ing:
            feed = None if no_feed else Feed(site, ing)
            server = Rpt(site, con, data_dir, feed, contexts=contexts)
            runner = await start(server, listen.host, listen.port)
            click.echo(f"rpt listening on https://{listen.host}:{listen.port}", err=True)
            try:
                await asyncio.Event().wait()
            finally:
                await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        fail(f"cannot listen on {listen.host}:{listen.port}: {exc}")
