"""`corridor compliance`: transfers on compliance hold, and the analyst's decisions."""

from __future__ import annotations

from pathlib import Path

import click

from corridor.clikit import data_option, friendly_errors, site_option, store_option
from corridor.core.money import format_minor
from corridor.store import reads as q
from corridor.txn.cli.store import now, opened, run
from corridor.txn.commands.compliance import Decide


@click.group()
def compliance() -> None:
    """Transfers on compliance hold, and the analyst's decisions."""


@compliance.command("list")
@site_option
@data_option
@store_option
def compliance_list(site_dir: Path, data_dir: Path, store: str | None) -> None:
    """Transfers waiting for a decision, with the screening hit."""
    with opened(site_dir, data_dir, store) as (_, conn):
        rows = q.held(conn)
    if not rows:
        click.echo("no transfers on hold")
    for r in rows:
        click.echo(f"{r.id}  {r.partner_id}  {r.reference}  "
                   f"{format_minor(r.send_minor, r.send_currency)} {r.send_currency}  "
                   f"{r.created_at}  {r.screening or ''}")


def _decide(decision: str, site_dir: Path, data_dir: Path, store: str | None,
            transfer_id: str, analyst: str, note: str | None) -> None:
    with opened(site_dir, data_dir, store) as (site, conn):
        row = run(conn, Decide(site.partners, transfer_id, decision, analyst, note, now()))
    click.echo(f"{row.id}: {row.status}" + (f" ({row.code})" if row.code else ""))


def _decision_command(decision: str, doc: str) -> click.Command:
    @click.command(decision, help=doc)
    @site_option
    @data_option
    @store_option
    @click.argument("transfer_id")
    @click.option("--analyst", required=True, help="Who decides (recorded in the audit).")
    @click.option("--note", default=None, help="Why (recorded in the audit).")
    @friendly_errors
    def command(site_dir: Path, data_dir: Path, store: str | None, transfer_id: str,
                analyst: str, note: str | None) -> None:
        _decide(decision, site_dir, data_dir, store, transfer_id, analyst, note)

    return command


compliance.add_command(_decision_command(
    "release", "Release a held transfer: funds and limits are checked again."))
compliance.add_command(_decision_command("reject", "Reject a held transfer."))
