"""TXN's commands: `serve txn`, `store init`, and the operator groups `ledger`,
`compliance`, `transfers`, `reconcile` and `callbacks`. Operator commands write through the
same commands as the server, in their own transaction, so they can run beside it; they open
only a store that is there (`serve txn` and `store init` make it)."""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from corridor.clikit import data_option, fail, friendly_errors, open_site, site_option
from corridor.core.money import Money, format_minor
from corridor.processes import Workers
from corridor.site.model import Site
from corridor.store import (
    Command,
    Connection,
    NoStore,
    choose_dsn,
    kind,
    open_existing,
    open_store,
    run_batch,
)
from corridor.store import reads as q
from corridor.store.dsn import in_data_dir, location
from corridor.txn.commands.compliance import Decide
from corridor.txn.commands.floats import Fund
from corridor.txn.commands.outbox import Replay
from corridor.txn.commands.reconcile import ResolveFlag
from corridor.txn.commands.transfers import CancelTransfer

store_option = click.option(
    "--store", "store", default=None, metavar="DSN",
    help="TXN store DSN (default: $CORRIDOR_TXN_STORE, else hub.yaml store.txn).",
)


@contextmanager
def opened(site_dir: Path, data_dir: Path, store: str | None, *, create: bool = False
           ) -> Iterator[tuple[Site, Connection]]:
    """The site and its TXN store, which must be there unless `create`."""
    site = open_site(site_dir)
    dsn = choose_dsn(site.hub.store_txn, store)
    try:
        kind(dsn)
        conn = (open_store if create else open_existing)(dsn, data_dir)
    except NoStore as exc:
        where = ("--data (or CORRIDOR_DATA) at the data directory" if in_data_dir(dsn)
                 else "--store (or CORRIDOR_TXN_STORE) at the store")
        fail(f"{exc}; point {where} of a running hub")
        raise
    except Exception as exc:  # a bad DSN or an unreachable server: one line, no traceback
        fail(f"cannot open the TXN store: {exc}")
        raise
    try:
        yield site, conn
    finally:
        conn.close()


def run(conn: Connection, command: Command) -> Any:
    out = run_batch(conn, [command])[0]
    if out.error is not None:
        raise out.error
    return out.value


def now() -> datetime:
    return datetime.now(UTC)


# -- serve ------------------------------------------------------------------------------------

@click.command()
@site_option
@data_option
@store_option
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Override hub.yaml listen.txn.")
@click.option("--workers", type=click.IntRange(0, 16), default=0, show_default=True,
              envvar="CORRIDOR_TXN_WORKERS",
              help="Run the payout worker and sender-callback delivery in this many processes "
                   "of their own beside the API process (0: inside it).")
@click.option("--hold-payouts", is_flag=True, envvar="CORRIDOR_TXN_HOLD_PAYOUTS",
              help="Accept transfers but submit no payouts (they wait in the outbox until "
                   "TXN runs without this flag).")
@friendly_errors
def serve(site_dir: Path, data_dir: Path, store: str | None, listen: str | None,
          workers: int, hold_payouts: bool) -> None:
    """Run TXN: the internal mTLS API for EIG and RPT, and the payout worker."""
    import uvloop

    from corridor.txn.server import serve as run_server
    from corridor.txn.server import serve_pumps

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    site = open_site(site_dir)
    dsn = choose_dsn(site.hub.store_txn, store)
    kind(dsn)
    host, port = site.hub.listen["txn"].host, site.hub.listen["txn"].port
    if listen:
        host, _, port_text = listen.rpartition(":")
        port = int(port_text)
    for needed in ("hub-ca.crt", "hub/txn.crt", "hub/txn.key"):
        if not (site.root / "pki" / needed).exists():
            fail(f"{site.root}/pki/{needed} is missing (run `corridor pki bootstrap`)")
    if hold_payouts:
        logging.getLogger("corridor.txn").warning("payouts are held: none will be submitted")

    def until_signal(run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run(stop)

        uvloop.run(main())

    if not workers:
        until_signal(lambda stop: run_server(site, dsn, data_dir, host, port, stop,
                                             hold_payouts=hold_payouts))
        return
    open_store(dsn, data_dir).close()  # migrate once, before any process opens the store
    pumps, pipes = Workers(), []
    for _ in range(workers):
        read_end, write_end = os.pipe()
        pumps.fork(lambda fd=read_end: until_signal(  # type: ignore[misc]
            lambda stop: serve_pumps(site, dsn, data_dir, stop, wake_pipe=fd,
                                     hold_payouts=hold_payouts)),
            close=[write_end, *pipes])
        os.close(read_end)
        os.set_blocking(write_end, False)
        pipes.append(write_end)
    try:
        until_signal(lambda stop: run_server(site, dsn, data_dir, host, port, stop,
                                             run_pumps=False, wake_pipes=pipes))
    finally:
        pumps.stop()


# -- store ------------------------------------------------------------------------------------

@click.group("store")
def store_group() -> None:
    """TXN's store."""


@store_group.command("init")
@site_option
@data_option
@store_option
@friendly_errors
def store_init(site_dir: Path, data_dir: Path, store: str | None) -> None:
    """Create TXN's store where `serve txn` would (or bring its schema up to date), e.g. to
    fund floats before the hub first runs. No other operator command creates one."""
    with opened(site_dir, data_dir, store, create=True) as (site, conn):
        version = conn.query("SELECT max(version) FROM schema_version")[0][0]
    where = location(choose_dsn(site.hub.store_txn, store), data_dir)
    click.echo(f"TXN store ready at {where} (schema version {version})")


# -- ledger -----------------------------------------------------------------------------------

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


# -- compliance ----------------------------------------------------------------------------------

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


# -- transfers -----------------------------------------------------------------------------------

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
    """One transfer and its history."""
    with opened(site_dir, data_dir, store) as (_, conn):
        row = q.transfer(conn, transfer_id)
        if row is None:
            fail(f"transfer {transfer_id} not found")
            return
        history = q.history(conn, transfer_id)
    click.echo(f"{row.id}  {row.partner_id} -> {row.receive_partner_id}  ref {row.reference}")
    click.echo(f"  {format_minor(row.send_minor, row.send_currency)} {row.send_currency} -> "
               f"{format_minor(row.receive_minor, row.receive_currency)} {row.receive_currency}"
               f"  fee {format_minor(row.fee_minor, row.send_currency)}  rate {row.rate}")
    for h in history:
        why = f"  {h['code']}: {h['reason']}" if h["code"] else ""
        click.echo(f"  {h['at']}  {h['status']}{why}")


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


# -- reconcile and callbacks ------------------------------------------------------------------

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
