"""`corridor backup`: TXN's store, online, into a new directory with its manifest."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from corridor.backup import manifest as m
from corridor.backup.errors import BackupError
from corridor.core.times import rfc3339
from corridor.site.model import Site
from corridor.store import Connection, connect
from corridor.store import reads as q
from corridor.store.dsn import location


def take(site: Site, dsn: str, data_dir: Path, target: Path) -> m.Manifest:
    """Back up the store of `dsn` into `target` (new, or an empty directory) while TXN runs.

    The source is opened as it is (`NoStore` if there is none) and never migrated: a backup
    changes nothing. On any failure the files written so far are removed; a backup
    interrupted harder than that has no manifest, which `restore` refuses."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty directory: back up into a new one",
                          code="backup_target_not_empty")
    conn = connect(dsn, data_dir, existing=True)
    made = not target.exists()
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        source, figures, files = _copy(conn, dsn, data_dir, target)
        manifest = m.Manifest(
            format=m.FORMAT, created_at=rfc3339(datetime.now(UTC)),
            corridor=version("corridor"), store=source, figures=figures,
            site=m.site_digests(site.root), files=m.stored(target, files))
        m.write(target, manifest)
    except BaseException:
        if made:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for path in target.iterdir():
                path.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    return manifest


def _copy(conn: Connection, dsn: str, data_dir: Path, target: Path
          ) -> tuple[m.Source, m.Figures, list[str]]:
    def read(c: Connection) -> tuple[int, m.Figures]:
        return q.schema_version(c), m.Figures.of(c)

    where = location(dsn, data_dir)
    if conn.kind == "sqlite":
        from corridor.backup import sqlite

        schema_version, figures = sqlite.snapshot(conn, target / sqlite.FILE, read)
        return m.Source(conn.kind, where, schema_version), figures, [sqlite.FILE]
    from corridor.backup import postgres

    schema, (schema_version, figures) = postgres.snapshot(conn, dsn, target / postgres.FILE,
                                                          read)
    return m.Source(conn.kind, where, schema_version, schema), figures, [postgres.FILE]
