"""One whole world (TXN, EIG, MobiCash and PayFast simulators, each a process, mTLS on
every hop) per store and test module, with timeouts and backoffs shortened (`FAST`) so that
every fault resolves in seconds. Each test resets the simulator's fault knobs afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest

from corridor.sim.faults import InjectedFaults
from corridor.sim.world import World
from tests.e2e.journeys import FAST
from tests.support import pg_schema


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    root: Path = tmp_path_factory.mktemp("world")
    with (pg_schema("e2e") if request.param == "postgresql"
          else nullcontext("sqlite:///txn.db")) as store:
        w = World.create(root, store=store, env={**FAST, "CORRIDOR_TRACING": "1"})
        try:
            w.start()
            w.fund("100000000.00")
            yield w
        finally:
            w.stop()


@pytest.fixture(autouse=True)
def calm(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends with a well-behaved receive partner."""
    if "world" not in request.fixturenames:
        yield
        return
    w: World = request.getfixturevalue("world")
    defaults = InjectedFaults().as_dict()
    w.faults(**defaults)
    yield
    w.faults(**defaults)
