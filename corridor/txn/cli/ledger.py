"""`corridor ledger`: balances, invariants and prefunding of the double-entry ledger."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from corridor.clikit import data_option, fail, friendly_errors, site_option, store_option
from corridor.core.money import Money, format_minor
from corridor.store import reads as q
from corridor.txn.cli.store import now, opened, run
from corridor.txn.commands.floats import Fund


@click.group()
def ledger() -> None:
    """Balances, invariants and prefunding of the double-entry ledger."""


@ledger.command("balances")
@site_option
@data_option
@store_option
def ledger_balances(site_dir: Path, data_dir: Path, store: str | None) -> None:
    """Posted and pending balance of every account."""
    with opened(site_dir, data_dir, store) as (_, conn):
        rows = q.balances(conn)
    click.echo(f"{'account':<34} {'currency':<8} {'posted':>18} {'pending':>18} {'available':>18}")
    for account, currency, posted, pending in rows:
        p, n = int(posted), int(pending)
        click.echo(f"{account:<34} {currency:<8} {format_minor(p, currency):>18} "
                   f"{format_minor(n, currency):>18} {format_minor(p + n, currency):>18}")


@ledger.command("verify")
@site_option
@data_option
@store_option
def ledger_verify(site_dir: Path, data_dir: Path, store: str | None) -> None:
    """Check the ledger's invariants; exit 1 listing every violation."""
    from corridor.txn.verify import violations

    with opened(site_dir, data_dir, store) as (site, conn):
        found = violations(site, conn)
    for line in found:
        click.echo(f"violation: {line}", err=True)
    if found:
        sys.exit(1)
    click.echo("ledger ok")


@ledger.command("fund")
@site_option
@data_option
@store_option
@click.argument("partner")
@click.argument("amount")
@click.option("--currency", default=None, help="Default: the partner's first currency.")
@click.option("--reference", required=True, help="The deposit's bank reference (unique).")
@friendly_errors
def ledger_fund(site_dir: Path, data_dir: Path, store: str | None, partner: str, amount: str,
                currency: str | None, reference: str) -> None:
    """Record PARTNER's prefunding deposit of AMOUNT (e.g. 100000.00) on its float."""
    with opened(site_dir, data_dir, store) as (site, conn):
        p = site.partner(partner)
        if p is None:
            fail(f"unknown partner {partner!r}")
            return
        money = Money.parse(amount, currency or p.currency)
        out = run(conn, Fund(p, money, reference, now()))
    click.echo(f"funded {out['partner']}: {out['amount']} {out['currency']} ({reference})")
