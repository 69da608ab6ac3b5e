from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.sim.faults import InjectedFaults
from corridor.sim.receive import ReceivePartnerSim
from corridor.site import Site
from tests.sim.rig import HubClient, LoopThread, Rig, StandInEig, make_pki
from tests.support import free_port


@pytest.fixture
def pki_site(site_dir: Path) -> tuple[Site, dict[str, str]]:
    return make_pki(site_dir)


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture
def rig(pki_site: tuple[Site, dict[str, str]], loop: LoopThread, tmp_path: Path) -> Iterator[Rig]:
    """A running MobiCash simulator with its callbacks going to a stand-in EIG."""
    site, keys = pki_site
    eig = StandInEig(site, keys["mobicash"])
    eig_url = loop.run(eig.start())
    state = tmp_path / "mobicash-state.json"

    async def start() -> ReceivePartnerSim:
        sim = ReceivePartnerSim(
            site, "mobicash", listen=("127.0.0.1", free_port()), eig_url=eig_url,
            api_key=keys["mobicash"], faults=InjectedFaults(), seed=7, state_file=state,
            callback_timeout=2.0)
        sim.callbacks.backoff = (0.02, 0.2)  # retries quick enough for a test
        return await sim.start()

    sim = loop.run(start())
    hub = HubClient(site, sim.url)
    yield Rig(site, keys, loop, eig, sim, hub, state)
    loop.run(hub.close())
    loop.run(sim.stop())
    loop.run(eig.stop())
