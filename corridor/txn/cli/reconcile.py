"""`corridor reconcile`: what needs a person, and closing it once it is dealt with."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

import click

from corridor.clikit import data_option, friendly_errors, site_option, store_option
from corridor.store import reads as q
from corridor.txn.cli.store import now, opened, run
from corridor.txn.commands.reconcile import ResolveFlag


@click.group(invoke_without_command=True)
@site_option
@data_option
@store_option
@click.option("--all", "show_all", is_flag=True,
              help="Also list the contradictions already resolved, with their notes.")
@click.pass_context
def reconcile(ctx: click.Context, site_dir: Path, data_dir: Path, store: str | None,
              show_all: bool) -> None:
    """What needs a person: contradictions a receive partner reported (flagged, never
    settled by the hub), then payouts whose outcome is still unknown. `reconcile resolve`
    closes a contradiction once it is dealt with."""
    if ctx.invoked_subcommand is not None:
        return
    with opened(site_dir, data_dir, store) as (_, conn):
        flags = q.reconciliation(conn, open_only=not show_all)
        unknown = q.transfers(conn, status="UNKNOWN", limit=10_000)
    still_open = 0
    for (_, tid, what, hub, partner, ref, detail, action, at, resolved_at, by,
         note) in flags:
        click.echo(f"{tid}  {what}  flagged {at}")
        click.echo(f"  hub: {hub}; partner: {partner}" + (f" (ref {ref})" if ref else ""))
        click.echo(f"  {detail}")
        if resolved_at is None:
            still_open += 1
            click.echo(f"  to do: {action}")
        else:
            click.echo(f"  resolved {resolved_at} by {by}: {note}")
    for r in unknown:
        click.echo(f"{r.id}  UNKNOWN at {r.receive_partner_id} since {r.updated_at}: the hub "
                   "is asking for its status; nothing to do unless it stays unknown")
    click.echo(f"{still_open} contradiction(s) to reconcile, {len(unknown)} payout(s) unknown")


@reconcile.command("resolve")
@site_option
@data_option
@store_option
@click.argument("transfer_id")
@click.option("--note", required=True,
              help="What was done about it (the partner's answer, the correction booked).")
@click.option("--kind", default=None, help="Only the flag of this kind (default: all open).")
@click.option("--by", "by", default=lambda: os.environ.get("SUDO_USER") or getpass.getuser(),
              show_default="the operator's login name", help="Who resolved it.")
@friendly_errors
def reconcile_resolve(site_dir: Path, data_dir: Path, store: str | None, transfer_id: str,
                      note: str, kind: str | None, by: str) -> None:
    """Close a transfer's flagged contradiction(s), once dealt with, with a note."""
    if not note.strip():
        raise click.BadParameter("say what was done", param_hint="--note")
    with opened(site_dir, data_dir, store) as (_, conn):
        kinds = run(conn, ResolveFlag(transfer_id, kind, by, note.strip(), now()))
    click.echo(f"{transfer_id}: {', '.join(kinds)} resolved by {by}")


@reconcile.command("pending")
@site_option
@data_option
@store_option
def reconcile_pending(site_dir: Path, data_dir: Path, store: str | None) -> None:
    """Transfers SUBMITTED or UNKNOWN: the payouts whose outcome is not yet known."""
    with opened(site_dir, data_dir, store) as (_, conn):
        rows = [*q.transfers(conn, status="SUBMITTED", limit=10_000),
                *q.transfers(conn, status="UNKNOWN", limit=10_000)]
    for r in rows:
        click.echo(f"{r.id}  {r.receive_partner_id:<10} {r.status:<10} since {r.updated_at}")
    click.echo(f"{len(rows)} payout(s) without a final outcome")
