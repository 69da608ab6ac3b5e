"""Every store and TXN test runs on both stores: SQLite in the test's directory and
PostgreSQL in a schema of its own, dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import POSTGRES_DSN, need, postgres_available


def pg_schema_dsn(schema: str) -> str:
    sep = "&" if "?" in POSTGRES_DSN else "?"
    return f"{POSTGRES_DSN}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test."""
    need(postgres_available(), "needs PostgreSQL on 127.0.0.1:5432")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield pg_schema_dsn(schema)
    finally:
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return "sqlite:///txn.db"  # under the test's data directory (tmp_path)
    return request.getfixturevalue("pg_dsn")
