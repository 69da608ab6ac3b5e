"""The one place where SQLite and PostgreSQL differ: connecting, placeholders, identity
columns, row locks, bulk inserts and how a writing transaction starts.

Everything above this module writes portable SQL with `?` placeholders and calls
`Connection` methods; the adapters translate.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from pathlib import Path
from typing import Any

import msgspec

from corridor.store import dsn as dsns
from corridor.store.rows import TableRow, columns

Row = tuple[Any, ...]
# Writers that append to the event feed take this PostgreSQL advisory lock first, so that
# commit order equals `seq` order and a reader's cursor never skips a late commit.
FEED_LOCK = 0x436F7272  # "Corr"
BUSY_TIMEOUT_MS = 30_000
CACHE_KIB = 32 * 1024  # SQLite page cache per connection, at most
STATEMENTS = 512  # prepared statements kept per SQLite connection (inserts come in sizes)
_json = msgspec.json.Encoder().encode
_values = msgspec.structs.astuple


class NoStore(Exception):
    """No TXN store where a connection for an existing one looked: no database file, or
    a database without the schema. `where` is the file, or the DSN without its password."""

    def __init__(self, where: str) -> None:
        super().__init__(f"no TXN store at {where}")
        self.where = where


class Connection:
    """A connection with the small surface the store needs."""

    kind = ""
    identity = ""
    for_update = ""  # appended to SELECTs that read rows the transaction will change
    skip_locked = ""  # appended to SELECTs that claim work rows

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def one_of(self, column: str) -> str:
        """`column IN (...)` with the whole list as one parameter made by `pack`, so that
        a group's key lookups keep one SQL text (prepared once) and use the index."""
        raise NotImplementedError

    def pack(self, values: Sequence[Any]) -> Any:
        """The parameter for a `one_of` placeholder."""
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        self.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            f"({', '.join('?' * len(columns))})",
            rows,
        )

    def insert_rows(self, kind: type[TableRow], rows: Sequence[TableRow]) -> None:
        """Insert named rows of `kind` into its table: the columns are its fields."""
        self.insert_many(kind.table, columns(kind), [_values(r) for r in rows])

    def add_many(self, table: str, keys: Sequence[str], extra: Sequence[str],
                 sums: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert rows, or add their `sums` columns onto the row with the same `keys`."""
        cols = [*keys, *extra, *sums]
        sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
        self.executemany(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}",
            rows,
        )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One writing transaction: committed (durably) on success, rolled back on error."""
        raise NotImplementedError
        yield self

    def checkpoint_elsewhere(self) -> bool:
        """Stop this connection's commits from checkpointing by themselves; True if the
        caller must now call `checkpoint` (SQLite WAL), False if the store needs none."""
        return False

    def checkpoint(self) -> None:
        """Copy committed WAL pages into the database file without blocking writers."""

    def close(self) -> None:
        raise NotImplementedError


class SqliteConnection(Connection):
    kind = "sqlite"
    identity = "INTEGER PRIMARY KEY AUTOINCREMENT"

    def __init__(self, path: Path, *, existing: bool = False) -> None:
        if not existing:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # mode=rw opens the file only if it is there: SQLite itself refuses to create
            # it, so nothing can appear between a check and the open.
            self.db = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=rw" if existing else path, uri=existing,
                isolation_level=None, check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000, cached_statements=STATEMENTS,
            )
        except sqlite3.OperationalError:
            if existing and not path.exists():
                raise NoStore(str(path)) from None
            raise
        # Before the pragmas below, which would write to a file that holds no store.
        if existing and not self.query(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"):
            self.db.close()
            raise NoStore(str(path))
        self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.db.execute("PRAGMA journal_mode = WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged commit survives a
        # crash or power loss, not only a process kill.
        self.db.execute("PRAGMA synchronous = FULL")
        # A group commit dirties a few MiB of pages; with the default 2 MiB cache SQLite
        # spills them to the WAL before the commit and writes some twice.
        self.db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.db.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.db.execute(sql, params).rowcount

    def one_of(self, column: str) -> str:
        return f"{column} IN (SELECT value FROM json_each(?))"

    def pack(self, values: Sequence[Any]) -> Any:
        return _json(list(values))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.db.executemany(sql, rows)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert `rows` with a few `VALUES (...), (...), ...` statements.

        `executemany` binds, steps and resets the statement once per row, and gives up
        the GIL at every step (then waits for the event loop to hand it back); a group
        commit inserts thousands of rows. Statements of up to `VALUES_ROWS` rows cost the
        writer about half the CPU and let go of the GIL a few times per table. Chunks are
        powers of two, so each table has a handful of SQL texts in the statement cache.
        (Upserts stay with `executemany`: SQLite runs a multi-row upsert slower than
        single rows.)"""
        width = len(columns)
        head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
        most = max(1, min(VALUES_ROWS,
                          self.db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
        i, n = 0, len(rows)
        while i < n:
            k = 1 << (min(n - i, most).bit_length() - 1)
            self.db.execute(head + _placeholders(width, k),
                            tuple(chain.from_iterable(rows[i:i + k])))
            i += k

    @contextmanager
    def write(self) -> Iterator[Connection]:
        # IMMEDIATE takes the write lock now, so what this transaction reads stays true
        # until it commits (CLI writers and the server's writer serialise here).
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def checkpoint_elsewhere(self) -> bool:
        self.db.execute("PRAGMA wal_autocheckpoint = 0")
        return True

    def checkpoint(self) -> None:
        # PASSIVE: copies what no reader still needs and never waits for a lock.
        self.db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self.db.close()


VALUES_ROWS = 128  # rows per multi-row INSERT on SQLite, at most


@lru_cache(maxsize=256)
def _placeholders(width: int, rows: int) -> str:
    """`(?, ?), (?, ?)` for `rows` rows of `width` columns."""
    one = f"({', '.join('?' * width)})"
    return ", ".join([one] * rows)


@lru_cache(maxsize=512)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")


class PostgresConnection(Connection):
    kind = "postgresql"
    identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
    for_update = " FOR UPDATE"
    skip_locked = " FOR UPDATE SKIP LOCKED"

    def __init__(self, dsn: str, *, existing: bool = False) -> None:
        import psycopg

        self.db = psycopg.connect(dsn, autocommit=True)
        if existing and self.query("SELECT to_regclass('schema_version')") == [(None,)]:
            self.db.close()
            raise NoStore(dsns.shown(dsn))
        self._selects: dict[tuple[str, tuple[str, ...]], str] = {}

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.db.execute(_pg(sql), params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.db.execute(_pg(sql), params).rowcount

    def one_of(self, column: str) -> str:
        # One array parameter: an index scan over its values once the table has statistics,
        # a scan probing a hash of them while it is small. (A list of 500 parameters in a
        # prepared plan compared every row with every value; a semi-join on the unnested
        # array, planned without statistics, did the same.)
        return f"{column} = ANY(?::text[])"

    def pack(self, values: Sequence[Any]) -> Any:
        return list(values)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.db.cursor() as cur:
                cur.executemany(_pg(sql), rows)

    def insert_many(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        # The whole group goes as one JSON document in one statement: msgspec encodes it in
        # C, and the server unpacks it. Formatting rows for COPY in Python held the GIL
        # against the event loop for longer than the server took to insert them.
        if rows:
            self.db.execute(f"INSERT INTO {table} ({', '.join(columns)}) "
                            f"{self._unpack(table, tuple(columns))}", (_json(rows).decode(),))

    def insert_rows(self, kind: type[TableRow], rows: Sequence[TableRow]) -> None:
        # Row structs are array-like: msgspec encodes each as the JSON array of its fields,
        # as it would the tuple, so none is built on the way.
        self.insert_many(kind.table, columns(kind), rows)  # type: ignore[arg-type]  # array-like structs encode as rows

    def add_many(self, table: str, keys: Sequence[str], extra: Sequence[str],
                 sums: Sequence[str], rows: Sequence[Row]) -> None:
        if not rows:
            return
        cols = (*keys, *extra, *sums)
        sets = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
        self.db.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) {self._unpack(table, cols)} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}", (_json(rows).decode(),)
        )

    def _unpack(self, table: str, columns: tuple[str, ...]) -> str:
        """`SELECT ... FROM` a JSON array of rows (one parameter), each field cast to the
        type of its column."""
        sql = self._selects.get((table, columns))
        if sql is None:
            types: dict[str, str] = dict(self.db.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s", (table,)
            ).fetchall())
            fields = ", ".join(f"(r->>{i})::{types[c]}" for i, c in enumerate(columns))
            sql = self._selects[(table, columns)] = (
                f"SELECT {fields} FROM jsonb_array_elements(%s::jsonb) AS r")
        return sql

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.db.transaction():
            self.db.execute("SELECT pg_advisory_xact_lock(%s)", (FEED_LOCK,))
            yield self

    def close(self) -> None:
        self.db.close()


def connect(dsn: str, data_dir: Path, *, existing: bool = False) -> Connection:
    """Open a connection for `dsn` (see `corridor.store.dsn`). With `existing`, only to a
    store that is there (`NoStore` otherwise), and nothing is created on the way."""
    if dsns.kind(dsn) == "sqlite":
        path = dsns.sqlite_path(dsn, data_dir)
        assert path is not None
        return SqliteConnection(path, existing=existing)
    return PostgresConnection(dsn, existing=existing)
