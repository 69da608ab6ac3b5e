"""Backing up and restoring the SQLite store with SQLite's online backup API."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from corridor.backup.errors import BackupError
from corridor.backup.manifest import StoredFile, fsync_dir
from corridor.store import Connection
from corridor.store.adapter import SqliteConnection

FILE = "txn.db"
T = TypeVar("T")


def snapshot(conn: Connection, dest: Path, read: Callable[[Connection], T]) -> T:
    """Copy the store `conn` is open on into the new file `dest`, and run `read` on the
    same snapshot, while TXN goes on committing.

    One read transaction holds both: its first read fixes the snapshot (WAL lets writers
    append behind it), `read` sees that snapshot, and `Connection.backup` copies the pages
    of that same snapshot because the source already has a read transaction open. (Outside
    one, a write by another connection between backup steps makes SQLite restart the copy,
    and under TXN's steady commits it might never finish.)"""
    assert isinstance(conn, SqliteConnection)
    conn.execute("BEGIN")  # deferred: no lock until the first read, and only a read lock
    try:
        facts = read(conn)
        target = sqlite3.connect(dest)
        try:
            conn.db.backup(target)
        finally:
            target.close()
    finally:
        conn.execute("ROLLBACK")
    dest.chmod(0o600)
    return facts


def restore(source: Path, entry: StoredFile, target: Path) -> None:
    """Put the backed-up database file at `target`, which must not exist (nor its WAL or
    journal): the bytes are hashed on their way and must match the manifest again, so a
    file changed since it was checked is not restored."""
    for path in (target, *(target.with_name(target.name + s) for s in ("-wal", "-shm",
                                                                         "-journal"))):
        if path.exists():
            raise BackupError(f"{path} already exists: restore into a data directory (or "
                              "--store) where there is no TXN store",
                              code="restore_target_not_empty")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, 0o600)
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != entry.sha256:
            raise BackupError(f"{source} changed while it was being restored",
                              code="backup_damaged")
        try:
            os.link(tmp, target)  # never replaces a store that appeared meanwhile
        except FileExistsError:
            raise BackupError(f"{target} appeared while restoring; left as it is",
                              code="restore_target_not_empty") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(target.parent)
