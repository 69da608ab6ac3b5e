"""One whole world (TXN, EIG, MobiCash and PayFast simulators, each a process, mTLS on
every hop) per store and test module, with timeouts and backoffs shortened (`FAST`) so that
every fault resolves in seconds. Each test resets the simulator's fault knobs afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corridor.sim.faults import InjectedFaults
from corridor.sim.world import World
from corridor.store import reads as q
from tests.e2e.journeys import FAST, funded_world
from tests.support import wait_for


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    with funded_world(tmp_path_factory.mktemp("world"), request.param, "e2e",
                      {**FAST, "CORRIDOR_TRACING": "1"}) as w:
        yield w


@pytest.fixture(autouse=True)
def calm(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends with well-behaved receive partners, and starts with both
    Kenyan wallets in payout rotation (a breaker a test opened has closed again)."""
    if "world" not in request.fixturenames:
        yield
        return
    w: World = request.getfixturevalue("world")
    defaults = InjectedFaults().as_dict()
    w.faults(**defaults)
    w.faults(w.second, **defaults)
    wait_for(lambda: all(state == "closed" for _, state, *_ in w.query(q.breakers)),
             timeout=20, what="every receive partner back in rotation")
    yield
    w.faults(**defaults)
    w.faults(w.second, **defaults)
