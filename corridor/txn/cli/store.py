"""TXN's store from the command line: the `--store` option, opening the site's store,
running one command in it in its own transaction, and `store init`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar, cast

import click

from corridor.clikit import (
    data_option,
    fail,
    friendly_errors,
    no_store_line,
    open_site,
    site_option,
    store_option,
)
from corridor.site.model import Site
from corridor.store import (
    Command,
    Connection,
    NoStore,
    choose_dsn,
    commit_group,
    kind,
    open_existing,
    open_store,
)
from corridor.store.dsn import location


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
        fail(no_store_line(exc, dsn))
        raise
    except Exception as exc:  # a bad DSN or an unreachable server: one line, no traceback
        fail(f"cannot open the TXN store: {exc}")
        raise
    try:
        yield site, conn
    finally:
        conn.close()

R = TypeVar("R")


def run(conn: Connection, command: Command[R]) -> R:
    out = commit_group(conn, [command])[0]
    if out.error is not None:
        raise out.error
    return cast(R, out.value)  # the outcome of this one command holds its answer


def now() -> datetime:
    return datetime.now(UTC)


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
