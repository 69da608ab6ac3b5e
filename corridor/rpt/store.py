"""Opening RPT's DuckDB store: where it lives (hub.yaml `store.rpt`, relative to the data
directory), its schema, and the feed cursor kept inside it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import duckdb

from corridor.site.model import Site

SCHEMA = resources.files("corridor.rpt").joinpath("schema.sql").read_text()


def store_path(site: Site, data_dir: Path) -> Path:
    """The DuckDB file named by hub.yaml `store.rpt`; a relative path is under `data_dir`."""
    path = Path(site.hub.store_rpt)
    return path if path.is_absolute() else data_dir / path


def connect(path: Path | str = ":memory:", *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store with its schema, creating it if needed unless `read_only` (DuckDB
    then refuses a file that is not there); every time reads as UTC."""
    if path != ":memory:" and not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    if not read_only:
        # Fewer, larger checkpoints while pages stream in; DuckDB checkpoints on close too.
        con.execute("SET checkpoint_threshold = '256MB'")
        con.execute(SCHEMA)
    return con


def cursor(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(seq of the last event counted, events counted so far); (0, 0) for a new store."""
    rows = con.execute("SELECT after, events FROM feed_cursor WHERE id = 1").fetchall()
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
