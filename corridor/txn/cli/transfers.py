"""`corridor transfers`: look up and cancel transfers."""

from __future__ import annotations

from pathlib import Path

import click

from corridor.clikit import data_option, fail, friendly_errors, site_option, store_option
from corridor.core.money import format_minor
from corridor.store import reads as q
from corridor.txn.cli.store import now, opened, run
from corridor.txn.commands.transfers import CancelTransfer
from corridor.txn.wire import decode


@click.group()
def transfers() -> None:
    """Look up and cancel transfers."""


@transfers.command("list")
@site_option
@data_option
@store_option
@click.option("--partner", default=None)
@click.option("--status", default=None)
@click.option("--limit", default=50, show_default=True)
def transfers_list(site_dir: Path, data_dir: Path, store: str | None, partner: str | None,
                   status: str | None, limit: int) -> None:
    """Transfers, oldest first."""
    with opened(site_dir, data_dir, store) as (_, conn):
        rows = q.transfers(conn, partner_id=partner, status=status, limit=limit)
    for r in rows:
        click.echo(f"{r.id}  {r.partner_id:<10} {r.reference:<20} {r.status:<16} "
                   f"{format_minor(r.send_minor, r.send_currency)} {r.send_currency}")


@transfers.command("show")
@site_option
@data_option
@store_option
@click.argument("transfer_id")
def transfers_show(site_dir: Path, data_dir: Path, store: str | None, transfer_id: str) -> None:
    """One transfer and its history, with its payout's route and the breakers of the
    receive partners it could go to."""
    with opened(site_dir, data_dir, store) as (site, conn):
        row = q.transfer(conn, transfer_id)
        if row is None:
            fail(f"transfer {transfer_id} not found")
            return
        history = q.history(conn, transfer_id)
        routes = q.routes_of(conn, transfer_id)
        breakers = {r[0]: r for r in q.breakers(conn)}
    click.echo(f"{row.id}  {row.partner_id} -> {row.receive_partner_id}  ref {row.reference}")
    click.echo(f"  {format_minor(row.send_minor, row.send_currency)} {row.send_currency} -> "
               f"{format_minor(row.receive_minor, row.receive_currency)} {row.receive_currency}"
               f"  fee {format_minor(row.fee_minor, row.send_currency)}  rate {row.rate}")
    for h in history:
        why = f"  {h['code']}: {h['reason']}" if h["code"] else ""
        click.echo(f"  {h['at']}  {h['status']}{why}")
    route = site.route(row.corridor, row.payout_method)
    if route is not None:
        click.echo(f"  route {route.corridor} {route.method} by {route.rule}: "
                   f"{', '.join(route.partners)}; paid out by {row.receive_partner_id}")
        for pid in route.partners:
            b = breakers.get(pid)
            state = "closed" if b is None else f"{b[1]} since {b[4]}" + (
                f" ({b[3]})" if b[3] and b[1] != "closed" else "")
            click.echo(f"    {pid:<10} breaker {state}")
    for at, data in routes:
        moved = decode(data)
        click.echo(f"  {at}  routed {moved['from']} -> {moved['to']}: {moved['reason']}")


@transfers.command("cancel")
@site_option
@data_option
@store_option
@click.argument("transfer_id")
@click.option("--reason", default="cancelled by an operator")
@friendly_errors
def transfers_cancel(site_dir: Path, data_dir: Path, store: str | None, transfer_id: str,
                     reason: str) -> None:
    """Cancel a transfer that has not been submitted to the receive partner."""
    with opened(site_dir, data_dir, store) as (_, conn):
        run(conn, CancelTransfer(None, None, "", transfer_id, reason, now()))
    click.echo(f"{transfer_id}: CANCELLED")
