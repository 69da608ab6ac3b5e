"""The journey through the lab's tunnels (`corridor lab demo`).

PENDING the VM: traffic crosses the tunnels only where the kernel carries ESP. Where it
does not (this project's CI machines), this module runs inside the lab's VM once `corridor
lab` boots one (corridor.lab.vm); until then it needs a kernel with ESP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from corridor.lab.cli import esp_here
from tests.lab.rig import Lab, corridor, running_lab
from tests.support import need


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need(esp_here() is True, "the journey needs a kernel with ESP (inside the lab VM: pending)")
    with running_lab(tmp_path_factory.mktemp("lab"), "trip") as built:
        yield built


def test_a_transfer_crosses_the_tunnels_hop_by_hop(lab: Lab) -> None:
    before = {t["partner"]: t for t in lab.status()["tunnels"]}
    done = corridor("lab", "demo", *lab.args())
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # EIG sees PayFast's application at its allowlisted inner address, not its gateway.
    assert "sees the caller at 10.20.1.2 (in payfast's allowed_ips" in out
    # Each hop names the hosts it crossed and the ESP packets its tunnel carried.
    for line in ("payfast -> payfast-gw -> net -> vpn -> eig -> txn; ",
                 "mobicash -> mobicash-gw -> net -> vpn -> eig -> txn; payout and callback: "):
        gw = line.split(" -> ")[1]
        esp = re.search(re.escape(line) + rf"ESP vpn -> {gw} \+(\d+), {gw} -> vpn \+(\d+)", out)
        assert esp is not None and min(map(int, esp.groups())) > 0, out
    assert "txn -> vpn -> net -> mobicash-gw -> mobicash" in out
    assert "txn -> vpn -> net -> payfast-gw -> payfast; since the transfer" in out
    # Over the journey, both ends of each tunnel counted ESP both ways.
    for partner in ("payfast", "mobicash"):
        totals = re.search(rf"{partner}'s tunnel: vpn sent (\d+) ESP packets, {partner}-gw "
                           rf"received (\d+); {partner}-gw sent (\d+), vpn received (\d+)", out)
        assert totals is not None and min(map(int, totals.groups())) > 0, out
    assert "sender callback COMPLETED at 10.20.1.2" in out and "demo complete" in out
    after = {t["partner"]: t for t in lab.status()["tunnels"]}
    for partner in ("payfast", "mobicash"):
        assert after[partner]["state"] == "up"
        assert after[partner]["bytes_in"] > before[partner]["bytes_in"]
        assert after[partner]["bytes_out"] > before[partner]["bytes_out"]
    # What left PayFast's gateway for the internet was IKE and ESP, never TCP in clear.
    assert lab.counter("payfast-gw", "cleartext tcp out") == 0
    assert lab.counter("payfast-gw", "esp out") > 0
