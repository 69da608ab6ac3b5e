"""Backups on both stores (tests/store/conftest.py: SQLite under the test's directory,
PostgreSQL in a schema of its own), restored into a place of their own: a fresh data
directory, or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.store.conftest import dsn, pg_dsn  # noqa: F401  (fixtures)
from tests.support import POSTGRES_DSN, REPO, need, postgres_available


def schema_of(pg: str) -> str:
    """The schema a DSN from `pg_schema_dsn` reads."""
    return pg.rsplit("%3D", 1)[1]


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The DSN of an empty PostgreSQL database for one test (no search path of its own)."""
    need(postgres_available(), "needs PostgreSQL on 127.0.0.1:5432")
    import psycopg

    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(POSTGRES_DSN)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def restore_dsn(request: pytest.FixtureRequest, dsn: str) -> str:  # noqa: F811
    """Where a backup of `dsn` is restored: a fresh data directory's txn.db (the test passes
    another --data), or the same schema name in a fresh database."""
    if dsn.startswith("sqlite"):
        return dsn
    fresh: str = request.getfixturevalue("pg_database")
    return f"{fresh}?options=-csearch_path%3D{schema_of(dsn)}"


def tree(path: Path) -> list[str]:
    """What is under `path` (empty if it does not exist), to show that nothing was written."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def corridor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The command in a process of its own, as an operator runs it beside the hub."""
    return subprocess.run([sys.executable, "-m", "corridor", *map(str, args)], cwd=REPO,
                          env=os.environ, capture_output=True, text=True, timeout=120)
