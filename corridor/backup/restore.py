"""`corridor restore`: a checked backup into a place that holds no store, then checked
again from the restored store."""

from __future__ import annotations

from pathlib import Path

from corridor.backup import manifest as m
from corridor.backup.errors import BackupError
from corridor.store import connect, kind, open_existing
from corridor.store.dsn import location, sqlite_path


def restore(dsn: str, data_dir: Path, source: Path) -> m.Manifest:
    """Restore the backup in `source` into the store `dsn` names, which must be empty.

    Nothing is written before the manifest and every file's SHA-256 are checked and the
    target is found empty. Afterwards the store must open as an existing one and show the
    manifest's figures: the same last event, event and transfer counts and balances."""
    manifest = m.read_checked(source)
    where = location(dsn, data_dir)
    if kind(dsn) != manifest.store.kind:
        raise BackupError(f"the backup holds a {manifest.store.kind} store; {where} is "
                          f"{kind(dsn)}", code="store_kind_mismatch")
    if manifest.store.kind == "sqlite":
        from corridor.backup import sqlite

        path = sqlite_path(dsn, data_dir)
        assert path is not None
        sqlite.restore(source / sqlite.FILE, manifest.file(sqlite.FILE), path)
    else:
        _restore_postgres(manifest, dsn, data_dir, source)
    conn = open_existing(dsn, data_dir)
    try:
        wrong = manifest.figures.differences(m.Figures.of(conn))
    finally:
        conn.close()
    if wrong:
        raise BackupError(f"the store restored at {where} differs from the backup: "
                          f"{'; '.join(wrong)}", code="restore_mismatch")
    return manifest


def _restore_postgres(manifest: m.Manifest, dsn: str, data_dir: Path, source: Path) -> None:
    from corridor.backup import postgres

    schema = manifest.store.schema
    if not schema:
        raise BackupError("the manifest of this PostgreSQL backup names no schema",
                          code="backup_damaged")
    manifest.file(postgres.FILE)  # listed, so read_checked has checked it
    conn = connect(dsn, data_dir)
    try:
        postgres.check_target(conn, schema, location(dsn, data_dir))
        postgres.restore(source / postgres.FILE, dsn, conn, schema)
    finally:
        conn.close()
