"""Where TXN's store is: a DSN from hub.yaml `store.txn`, `--store` or $CORRIDOR_TXN_STORE.

`sqlite:///txn.db` is relative to the data directory, `sqlite:////abs/txn.db` absolute;
`postgresql://user@host:port/db` (with `?options=-csearch_path%3Dschema` if wanted) is
handed to psycopg unchanged.
"""

from __future__ import annotations

import os
from pathlib import Path

from corridor.core.errors import InvalidInput

ENV = "CORRIDOR_TXN_STORE"


def choose_dsn(configured: str, override: str | None = None) -> str:
    """The DSN to use: an explicit override, else the environment, else the site's."""
    return override or os.environ.get(ENV) or configured


def sqlite_path(dsn: str, data_dir: Path) -> Path | None:
    """The database file of a sqlite DSN (None for PostgreSQL)."""
    if not dsn.startswith("sqlite://"):
        return None
    rest = dsn.removeprefix("sqlite://")
    if not rest.startswith("/") or rest == "/":
        raise InvalidInput(f"store DSN {dsn!r} names no file", code="bad_store")
    path = Path(rest[1:])  # "/txn.db" -> relative; "//abs/txn.db" -> "/abs/txn.db"
    return path if path.is_absolute() else data_dir / path


def kind(dsn: str) -> str:
    """"sqlite" or "postgresql"; anything else is a clear error."""
    if dsn.startswith("sqlite://"):
        return "sqlite"
    if dsn.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise InvalidInput(
        f"store DSN {dsn!r} is neither sqlite:///FILE nor postgresql://...", code="bad_store"
    )
