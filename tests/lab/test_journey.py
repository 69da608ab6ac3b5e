"""The journey through the lab's tunnels (`corridor lab demo`).

PENDING the VM: traffic crosses the tunnels only where the kernel carries ESP. Where it
does not (this project's CI machines), this module runs inside the lab's VM once `corridor
lab` boots one (corridor.lab.vm); until then it needs a kernel with ESP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lab.rig import Lab, corridor, running_lab
from tests.support import need


def _esp_here() -> bool:
    try:
        from corridor.lab.kernel import esp_support  # type: ignore[import-not-found]
    except ImportError:
        return False
    return bool(esp_support().available)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    need(_esp_here(), "the journey needs a kernel with ESP (inside the lab VM: pending)")
    with running_lab(tmp_path_factory.mktemp("lab"), "trip") as built:
        yield built


def test_a_transfer_crosses_the_tunnels_hop_by_hop(lab: Lab) -> None:
    before = {t["partner"]: t for t in lab.status()["tunnels"]}
    done = corridor("lab", "demo", *lab.args())
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # EIG sees PayFast's application at its allowlisted inner address, not its gateway.
    assert "sees the caller at 10.20.1.2 (in payfast's allowed_ips" in out
    assert "payfast -> payfast-gw -> net -> vpn -> eig -> txn" in out
    assert "txn -> vpn -> net -> mobicash-gw -> mobicash" in out
    assert "mobicash -> mobicash-gw -> net -> vpn -> eig -> txn" in out
    assert "txn -> vpn -> net -> payfast-gw -> payfast" in out
    assert "vpn esp from payfast +" in out and "vpn esp to mobicash +" in out
    assert "vpn esp from mobicash +" in out and "vpn esp to payfast +" in out
    assert "demo complete" in out
    after = {t["partner"]: t for t in lab.status()["tunnels"]}
    for partner in ("payfast", "mobicash"):
        assert after[partner]["state"] == "up"
        assert after[partner]["bytes_in"] > before[partner]["bytes_in"]
        assert after[partner]["bytes_out"] > before[partner]["bytes_out"]
    # What left PayFast's gateway for the internet was IKE and ESP, never TCP in clear.
    assert lab.counter("payfast-gw", "cleartext tcp out") == 0
    assert lab.counter("payfast-gw", "esp out") > 0
