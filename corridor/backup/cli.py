"""`corridor backup --to DIR` and `corridor restore --from DIR`."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import psycopg

from corridor.clikit import (
    data_option,
    fail,
    friendly_errors,
    no_store_line,
    open_site,
    site_option,
    store_option,
)
from corridor.store import NoStore, choose_dsn, kind
from corridor.store.dsn import location

# What the engines and the file system raise for a store that cannot be read or written
# (not a database, an unreachable server, no permission, a full disk): one line each.
ENGINE_ERRORS = (OSError, sqlite3.Error, psycopg.Error)


@click.command()
@site_option
@data_option
@store_option
@click.option("--to", "target", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="A new (or empty) directory for the backup.")
@friendly_errors
def backup(site_dir: Path, data_dir: Path, store: str | None, target: Path) -> None:
    """Back up TXN's store while the hub runs: a consistent snapshot with a manifest of
    checksums. RPT's store is not backed up (it rebuilds from the feed), nor the site's
    keys."""
    from corridor.backup.snapshot import take

    site = open_site(site_dir)
    dsn = choose_dsn(site.hub.store_txn, store)
    kind(dsn)
    where = location(dsn, data_dir)
    try:
        manifest = take(site, dsn, data_dir, target)
    except NoStore as exc:
        fail(no_store_line(exc, dsn))
        return
    except ENGINE_ERRORS as exc:
        fail(f"cannot back up the TXN store at {where}: {_one_line(exc)}")
        return
    f = manifest.figures
    click.echo(f"backed up the TXN store at {where} into {target}: {f.events} events "
               f"(last {f.last_event_seq}), {f.transfers} transfers, {len(f.balances)} "
               f"ledger accounts, schema version {manifest.store.schema_version}")


@click.command()
@site_option
@data_option
@store_option
@click.option("--from", "source", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="The backup directory (with its manifest.json).")
@friendly_errors
def restore(site_dir: Path, data_dir: Path, store: str | None, source: Path) -> None:
    """Restore a backup into a place that holds no TXN store (--data, or --store). Every
    file is checked against the manifest first: a damaged or partial backup is refused and
    nothing is written. Afterwards the restored store is checked against the manifest."""
    from corridor.backup.manifest import site_changes
    from corridor.backup.restore import restore as run

    site = open_site(site_dir)
    dsn = choose_dsn(site.hub.store_txn, store)
    kind(dsn)
    where = location(dsn, data_dir)
    try:
        manifest = run(dsn, data_dir, source)
    except ENGINE_ERRORS as exc:
        fail(f"cannot restore into {where}: {_one_line(exc)}")
        return
    changed = site_changes(manifest, site.root)
    if changed:
        click.echo(f"note: site files changed since the backup: {', '.join(changed)}",
                   err=True)
    f = manifest.figures
    click.echo(f"restored the backup of {manifest.created_at} into {where}: {f.events} events "
               f"(last {f.last_event_seq}), {f.transfers} transfers, ledger as backed up; "
               "RPT rebuilds from the feed (`corridor rpt ingest`)")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
