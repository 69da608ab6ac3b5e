"""One whole world (TXN, EIG, MobiCash and PayFast simulators, each a process, mTLS on
every hop) per store and test module, with timeouts and backoffs shortened so that every
fault resolves in seconds. Each test resets the simulator's fault knobs afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.sim.faults import Faults
from corridor.sim.world import World
from tests.store.conftest import pg_schema_dsn
from tests.support import POSTGRES_DSN, need, postgres_available

FAST = {
    "CORRIDOR_TXN_LEASE_S": "3",
    "CORRIDOR_CONNECTOR_TIMEOUT_S": "1",
    "CORRIDOR_CONNECTOR_RETRIES": "1",
    "CORRIDOR_CONNECTOR_BACKOFF_S": "0.05",
    "CORRIDOR_PAYOUT_POLL_S": "1",
    "CORRIDOR_PAYOUT_RETRY_S": "0.3",
    "CORRIDOR_PAYOUT_POLL_MAX_S": "1",
    "CORRIDOR_CALLBACK_BACKOFF_S": "0.2",
    "CORRIDOR_CALLBACK_BACKOFF_MAX_S": "0.5",
    "CORRIDOR_CALLBACK_RETRY_FOR_S": "3",
    "CORRIDOR_CALLBACK_TIMEOUT_S": "1",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    root: Path = tmp_path_factory.mktemp("world")
    schema = None
    store = "sqlite:///txn.db"
    if request.param == "postgresql":
        need(postgres_available(), "needs PostgreSQL on 127.0.0.1:5432")
        import psycopg

        schema = f"e2e_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
            admin.execute(f"CREATE SCHEMA {schema}")
        store = pg_schema_dsn(schema)
    w = World.create(root, store=store, env=FAST)
    try:
        w.start()
        w.fund("100000000.00")
        yield w
    finally:
        w.stop()
        if schema is not None:
            import psycopg

            with psycopg.connect(POSTGRES_DSN, autocommit=True) as admin:
                admin.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(autouse=True)
def calm(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends with a well-behaved receive partner."""
    if "world" not in request.fixturenames:
        yield
        return
    w: World = request.getfixturevalue("world")
    defaults = Faults().as_dict()
    w.faults(**defaults)
    yield
    w.faults(**defaults)
