"""`corridor fx`: the treasury's live rates in TXN's store. `set` pushes a rate (a move
beyond the band waits for `confirm` by a second operator), `rates` shows what quotes use
now and how old it is, `history` the audit trail of a pair, `report` which rate each
transfer was priced on."""

from __future__ import annotations

import json
from pathlib import Path

import click

from corridor.clikit import data_option, friendly_errors, site_option, store_option
from corridor.core.fx import SITE_SOURCE, parse_pair
from corridor.core.times import parse_time, rfc3339
from corridor.store import fx as rates_store
from corridor.txn import fx
from corridor.txn.cli.store import now, opened


@click.group("fx")
def fx_group() -> None:
    """Live FX rates: push, confirm (four eyes), show, audit."""


@fx_group.command("set")
@site_option
@data_option
@store_option
@click.argument("pair")
@click.argument("rate")
@click.option("--by", "by", required=True, help="The operator (or feed) pushing the rate.")
@click.option("--source", default="treasury", show_default=True,
              help="Where the rate comes from (recorded with it).")
@click.option("--at", "given_at", default=None,
              help="When the source gave the rate (RFC 3339; default now).")
@friendly_errors
def fx_set(site_dir: Path, data_dir: Path, store: str | None, pair: str, rate: str, by: str,
           source: str, given_at: str | None) -> None:
    """Push PAIR's mid RATE (e.g. INR/KES 1.5412): live at once, unless it moves beyond
    hub.yaml's fx.band_bps, when it is refused and waits for a second operator."""
    with opened(site_dir, data_dir, store) as (site, conn):
        tariff = site.hub.tariff
        pushed = fx.push(conn, tariff, pair, rate, source=source, by=by, now=now(),
                         given_at=given_at)
    row = pushed.row
    if pushed.pending:
        raise fx.refusal(pushed, tariff.fx_band_bps)
    click.echo(f"rate {row.id}: {row.pair} {row.rate} from {row.source} at {row.given_at} "
               f"is live (pushed by {row.recorded_by})")


@fx_group.command("confirm")
@site_option
@data_option
@store_option
@click.argument("rate_id", type=int)
@click.option("--by", "by", required=True, help="The second operator (not the proposer).")
@friendly_errors
def fx_confirm(site_dir: Path, data_dir: Path, store: str | None, rate_id: int,
               by: str) -> None:
    """Confirm a proposed rate that moved beyond the band: it becomes live."""
    with opened(site_dir, data_dir, store) as (site, conn):
        row = fx.confirm(conn, site.hub.tariff, rate_id, by, now())
    click.echo(f"rate {row.id}: {row.pair} {row.rate} is live (proposed by {row.recorded_by}, "
               f"confirmed by {row.confirmed_by})")


@fx_group.command("rates")
@site_option
@data_option
@store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def fx_rates(site_dir: Path, data_dir: Path, store: str | None, as_json: bool) -> None:
    """The rate each pair is priced on now, its source, age and whether it is stale."""
    with opened(site_dir, data_dir, store) as (site, conn):
        book = fx.book(conn, site.hub.tariff)
    at = now()
    pairs = sorted(set(book.live) | {p for p in book.site
                                     if p not in book.live and (p[1], p[0]) not in book.live})
    out = []
    for pair in pairs:
        found = book.find(*pair)
        assert found is not None
        rate = found[0]
        age = None if rate.at is None else round((at - rate.at).total_seconds(), 1)
        out.append({"pair": rate.pair, "rate": str(rate.rate), "id": rate.id,
                    "source": rate.source, "at": rfc3339(rate.at) if rate.at else None,
                    "age_seconds": age, "stale": book.stale(rate, at)})
    if as_json:
        click.echo(json.dumps({"max_age_seconds": book.max_age_s, "rates": out}))
        return
    click.echo(f"max age: {book.max_age_s or 'none'} s")
    for r in out:
        click.echo(f"{r['pair']:8} {r['rate']:>14}  {r['source']:12} "
                   f"{r['at'] or '(static)':20}  {'STALE' if r['stale'] else 'ok'}")


@fx_group.command("history")
@site_option
@data_option
@store_option
@click.argument("pair", required=False)
@click.option("--limit", default=50, show_default=True)
@friendly_errors
def fx_history(site_dir: Path, data_dir: Path, store: str | None, pair: str | None,
               limit: int) -> None:
    """Every rate pushed (newest first): who pushed it, who confirmed it, its state."""
    wanted = parse_pair(pair) if pair else None
    with opened(site_dir, data_dir, store) as (_, conn):
        rows = rates_store.history(conn, wanted, limit)
    if not rows:
        click.echo("no rates pushed")
    for r in rows:
        confirm = f", confirmed by {r.confirmed_by} at {r.confirmed_at}" if r.confirmed_by else ""
        moved = f" (moved {r.move_bps} bps)" if r.move_bps is not None else ""
        click.echo(f"{r.id:>5} {r.pair} {r.rate} {r.state:7} {r.source} at {r.given_at}; "
                   f"pushed by {r.recorded_by} at {r.recorded_at}{moved}{confirm}")


@fx_group.command("report")
@site_option
@data_option
@store_option
@click.option("--from", "since", default=None, help="Transfers created at or after (RFC 3339).")
@click.option("--to", "until", default=None, help="Transfers created before (RFC 3339).")
@click.option("--partner", default=None, help="One send partner's transfers.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@friendly_errors
def fx_report(site_dir: Path, data_dir: Path, store: str | None, since: str | None,
              until: str | None, partner: str | None, as_json: bool) -> None:
    """Which rate each transfer was priced on: mid and customer rate, the rate's id,
    source and time."""
    since = rfc3339(parse_time(since)) if since else None
    until = rfc3339(parse_time(until)) if until else None
    with opened(site_dir, data_dir, store) as (_, conn):
        rows = rates_store.used(conn, since, until, partner)
    keys = ("transfer_id", "partner", "created_at", "send_currency", "receive_currency",
            "mid_rate", "rate", "fx_rate_id", "source", "given_at")
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        if item["fx_rate_id"] is None:
            item["source"] = SITE_SOURCE
        if as_json:
            click.echo(json.dumps(item, default=str))
        else:
            given = f", {item['given_at']}" if item["given_at"] else ""
            click.echo(f"{item['transfer_id']}  {item['partner']}  {item['send_currency']}/"
                       f"{item['receive_currency']}  mid {item['mid_rate']}  rate "
                       f"{item['rate']}  from rate {item['fx_rate_id'] or '-'} "
                       f"({item['source']}{given})")


@fx_group.command("watch")
@site_option
@data_option
@store_option
@click.argument("rates_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--by", "by", required=True, help="The feed or operator the rates are from.")
@click.option("--interval", default=2.0, show_default=True,
              help="Seconds between looks at the file.")
@click.option("--once", is_flag=True, help="Read the file once and exit (1 if anything "
              "was refused).")
def fx_watch(site_dir: Path, data_dir: Path, store: str | None, rates_file: Path, by: str,
             interval: float, once: bool) -> None:
    """Push the rates of RATES_FILE (CSV: pair,rate,source,at) each time it changes; a
    version with a fault is refused whole (FILE:LINE: message), nothing pushed."""
    import time

    from corridor.filestamp import Stamp, stamp
    from corridor.txn import ratesfile

    seen: Stamp | None = None
    with opened(site_dir, data_dir, store) as (site, conn):
        while True:
            version = stamp(rates_file)
            refused: list[str] = []
            if version != seen or once:
                seen = version
                lines, refused = ratesfile.read(rates_file)
                if not refused:
                    done, refused = ratesfile.apply(conn, site.hub.tariff, rates_file, lines,
                                                    by, now())
                    for line in done:
                        click.echo(line)
                for line in refused:
                    click.echo(f"error: {line}", err=True)
            if once:
                raise SystemExit(1 if refused else 0)
            time.sleep(interval)
