"""TXN's store: one schema on SQLite (the embedded default) or PostgreSQL, numbered
migrations, and the group-commit writer. The only package that holds SQL dialects."""

from __future__ import annotations

from pathlib import Path

from corridor.store.adapter import Connection, NoStore, connect
from corridor.store.changes import Changes
from corridor.store.dsn import choose_dsn, kind
from corridor.store.migrate import migrate
from corridor.store.rows import Stored, TransferRow
from corridor.store.unit_of_work import Needs, UnitOfWork
from corridor.store.writer import Command, Writer, commit_group


def open_store(dsn: str, data_dir: Path) -> Connection:
    """Connect and bring the schema up to date, creating the store if there is none: for
    `serve txn` and `store init`."""
    conn = connect(dsn, data_dir)
    migrate(conn)
    return conn


def open_existing(dsn: str, data_dir: Path) -> Connection:
    """Connect to the store that is there and bring its schema up to date; `NoStore` if
    there is none. Operator commands open the store this way, so that a mistyped data
    directory or DSN is refused instead of becoming a new, empty store."""
    conn = connect(dsn, data_dir, existing=True)
    try:
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


__all__ = [
    "Changes",
    "Command",
    "Connection",
    "Needs",
    "NoStore",
    "Stored",
    "TransferRow",
    "UnitOfWork",
    "Writer",
    "choose_dsn",
    "commit_group",
    "connect",
    "kind",
    "migrate",
    "open_existing",
    "open_store",
]
