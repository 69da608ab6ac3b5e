"""`corridor callbacks`: the messages the hub owes partners (the outbox)."""

from __future__ import annotations

from pathlib import Path

import click

from corridor.clikit import data_option, friendly_errors, site_option, store_option
from corridor.store import reads as q
from corridor.txn.cli.store import now, opened, run
from corridor.txn.commands.outbox import Replay


@click.group()
def callbacks() -> None:
    """Messages the hub owes partners (the outbox): sender callbacks and payouts."""


@callbacks.command("list")
@site_option
@data_option
@store_option
@click.option("--state", default=None, help="pending, done or dead")
@click.option("--kind", default=None, help="sender_callback or payout")
@click.option("--failed", is_flag=True,
              help="Only sender callbacks that were parked after failing (dead).")
def callbacks_list(site_dir: Path, data_dir: Path, store: str | None, state: str | None,
                   kind: str | None, failed: bool) -> None:
    """Outbox messages with their delivery state."""
    if failed:
        state, kind = "dead", kind or "sender_callback"
    with opened(site_dir, data_dir, store) as (_, conn):
        rows = q.outbox(conn, kind=kind, state=state, limit=1000)
    for oid, k, tid, partner, st, attempts, due, error in rows:
        click.echo(f"{oid:>6} {k:<16} {partner:<10} {tid or '-'} {st:<8} tries {attempts} "
                   f"due {due} {error or ''}")
    if failed:
        click.echo(f"{len(rows)} parked callback(s)")


@callbacks.command("replay")
@site_option
@data_option
@store_option
@click.argument("message_id", type=int)
@friendly_errors
def callbacks_replay(site_dir: Path, data_dir: Path, store: str | None,
                     message_id: int) -> None:
    """Queue a parked callback (MESSAGE_ID from `callbacks list`) for delivery again."""
    with opened(site_dir, data_dir, store) as (_, conn):
        m = run(conn, Replay(message_id, now()))
    click.echo(f"message {m.id} ({m.kind} to {m.partner_id}) queued again")
