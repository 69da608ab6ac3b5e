"""Numbered migrations (`migrations/NNN_name.sql`), recorded in `schema_version` and
applied when any part of Corridor opens the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from corridor.core.times import rfc3339
from corridor.store.adapter import Connection

MIGRATIONS = Path(__file__).parent / "migrations"


def available() -> list[tuple[int, Path]]:
    out = []
    for path in sorted(MIGRATIONS.glob("*.sql")):
        out.append((int(path.name.split("_", 1)[0]), path))
    return out


def statements(path: Path, conn: Connection) -> list[str]:
    """The statements of one migration file with the dialect's words filled in."""
    text = "\n".join(
        line for line in path.read_text().splitlines() if not line.lstrip().startswith("--")
    )
    text = text.replace("{identity}", conn.identity)
    return [s.strip() for s in text.split(";") if s.strip()]


def migrate(conn: Connection) -> list[int]:
    """Apply every migration not yet recorded; the versions applied now."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
        "applied_at TEXT NOT NULL)"
    )
    done: list[int] = []
    with conn.write():
        have = {row[0] for row in conn.query("SELECT version FROM schema_version")}
        for version, path in available():
            if version in have:
                continue
            for statement in statements(path, conn):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_version (version, applied_at) VALUES (?, ?)",
                (version, rfc3339(datetime.now(UTC))),
            )
            done.append(version)
    return done
