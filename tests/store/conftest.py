"""Every store and TXN test runs on both stores: SQLite in the test's directory and
PostgreSQL in a schema of its own, dropped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import pg_schema


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test."""
    with pg_schema("t") as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", "postgresql"])
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return "sqlite:///txn.db"  # under the test's data directory (tmp_path)
    return request.getfixturevalue("pg_dsn")
