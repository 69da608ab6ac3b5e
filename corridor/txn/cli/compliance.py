"""`corridor compliance`: transfers on compliance hold, and the analyst's decisions."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import click

from corridor.clikit import data_option, fail, friendly_errors, site_option, store_option
from corridor.core.money import format_minor
from corridor.pki.watch import parse_duration
from corridor.store import reads as q
from corridor.txn.cli.store import now, opened, run
from corridor.txn.commands.compliance import Decide
from corridor.txn.commands.information import ReadDocument, RequestInfo


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


@compliance.command("request-info")
@site_option
@data_option
@store_option
@click.argument("transfer_id")
@click.option("--ask", required=True, help="The question the send partner must answer.")
@click.option("--analyst", required=True, help="Who asks (recorded in the audit).")
@click.option("--within", default="72h", show_default=True,
              help="The deadline: with no answer by then the transfer is rejected (72h, 30m).")
@friendly_errors
def request_info(site_dir: Path, data_dir: Path, store: str | None, transfer_id: str,
                 ask: str, analyst: str, within: str) -> None:
    """Ask the send partner for information on a held transfer (sender callback
    INFO_REQUESTED); it answers with POST /v1/transfers/{id}/documents."""
    try:
        seconds = parse_duration(within)
    except ValueError as exc:
        fail(str(exc))
        return
    at = now()
    with opened(site_dir, data_dir, store) as (_, conn):
        request = run(conn, RequestInfo(transfer_id, ask, analyst,
                                        at + timedelta(seconds=seconds), at))
    click.echo(f"{transfer_id}: information request {request.id} sent; answer due by "
               f"{request.deadline}")


@compliance.command("info")
@site_option
@data_option
@store_option
@click.argument("transfer_id")
def info(site_dir: Path, data_dir: Path, store: str | None, transfer_id: str) -> None:
    """A held transfer's information requests, the partner's answers and its documents."""
    with opened(site_dir, data_dir, store) as (_, conn):
        row = q.transfer(conn, transfer_id)
        if row is None:
            fail(f"transfer {transfer_id} not found")
            return
        requests = q.information_requests(conn, transfer_id)
        documents = q.documents_of(conn, transfer_id)
    click.echo(f"{row.id}  {row.partner_id}  {row.status}" +
               (f" ({row.code}: {row.reason})" if row.code else ""))
    if not requests:
        click.echo("  no information requests")
    for rid, ask, by, asked_at, deadline, state, answer, answered_at in requests:
        click.echo(f"  request {rid} by {by} at {asked_at}, due {deadline}: {state}")
        click.echo(f"    asked: {ask}")
        if answered_at:
            click.echo(f"    answered {answered_at}: {answer or '(no text)'}")
        for did, req, name, kind, size, digest, received in documents:
            if req == rid:
                click.echo(f"    document {did}  {name}  {kind}  {size} bytes  "
                           f"sha256 {digest}  {received}")


@compliance.command("document")
@site_option
@data_option
@store_option
@click.argument("document_id")
@click.option("--analyst", required=True, help="Who reads it (recorded in the audit).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Where to write it (created 0600; refused if it exists).")
@friendly_errors
def document(site_dir: Path, data_dir: Path, store: str | None, document_id: str,
             analyst: str, out: Path) -> None:
    """Write a document a partner sent, after checking it against its stored SHA-256."""
    if out.exists():
        fail(f"{out} exists; name a new file")
        return
    with opened(site_dir, data_dir, store) as (_, conn):
        meta, transfer_id, content = run(conn, ReadDocument(document_id, analyst, now()))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(content)
    click.echo(f"{out}: {meta.name} ({meta.media_type}, {meta.size} bytes, sha256 "
               f"{meta.sha256}) of transfer {transfer_id}")
