"""TXN's store: one schema on SQLite (the embedded default) or PostgreSQL, numbered
migrations, and the group-commit writer. The only package that holds SQL dialects."""

from __future__ import annotations

from pathlib import Path

from corridor.store.adapter import Connection, connect
from corridor.store.batch import Batch, Changes, Needs
from corridor.store.dsn import choose_dsn, kind
from corridor.store.migrate import migrate
from corridor.store.rows import Stored, TransferRow
from corridor.store.writer import Command, Writer, run_batch


def open_store(dsn: str, data_dir: Path) -> Connection:
    """Connect and bring the schema up to date."""
    conn = connect(dsn, data_dir)
    migrate(conn)
    return conn


__all__ = [
    "Batch", "Changes", "Command", "Connection", "Needs", "Stored", "TransferRow", "Writer",
    "choose_dsn", "connect", "kind", "migrate", "open_store", "run_batch",
]
