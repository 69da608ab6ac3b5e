"""The VPN host's commands run with exactly the capabilities their rendered units grant:
`firewall apply` with CAP_NET_ADMIN alone (and not without it), `vpn apply` and `vpn
monitor` with none, against a real nftables and a real pluto in network namespaces.

`setpriv --bounding-set` gives a root process the bounding set that the unit's
CapabilityBoundingSet= gives it under systemd."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from corridor.net.plutod import PlutoDaemon
from tests.deploy.rendering import BIN, setting
from tests.net.netns import lab, sh
from tests.support import need_root, need_tool

UNITS = "etc/systemd/system"


def bounding(unit: Path) -> str:
    """The unit's CapabilityBoundingSet= in setpriv's words: `-all,+net_admin`."""
    (caps,) = setting(unit, "CapabilityBoundingSet")
    return ",".join(["-all", *(f"+{c.removeprefix('CAP_').lower()}" for c in caps.split())])


def as_unit(unit: Path, *args: str, ns: str | None = None,
            caps: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["setpriv", f"--bounding-set={caps or bounding(unit)}", "--inh-caps=-all", "--",
            BIN, *args]
    return sh(*argv, ns=ns, check=False, timeout=60)


@pytest.fixture
def vpn_site(bundles: dict[str, Path], tmp_path: Path) -> Path:
    need_root()
    need_tool("ip", "nft", "setpriv", "ipsec", "certutil")
    return shutil.copytree(bundles["vpn"] / "etc/corridor/site", tmp_path / "site")


def test_firewall_apply_needs_cap_net_admin_and_nothing_more(
        bundles: dict[str, Path], vpn_site: Path, tmp_path: Path) -> None:
    unit = bundles["vpn"] / UNITS / "corridor-firewall.service"
    assert bounding(unit) == "-all,+net_admin"
    with lab() as w:
        ns = w.ns("fw")
        args = ("firewall", "apply", "--site", str(vpn_site), "--data", str(tmp_path / "d"))
        without = as_unit(unit, *args, ns=ns, caps="-all")
        assert without.returncode != 0 and without.stderr.count("\n") == 1, without.stderr
        done = as_unit(unit, *args, ns=ns)
        assert done.returncode == 0, done.stderr
        assert "table inet corridor" in sh("nft", "list", "tables", ns=ns).stdout
        again = as_unit(unit, *args, ns=ns)
        assert (again.returncode, again.stdout) == (0, "no change\n"), again.stderr


def test_vpn_apply_and_monitor_need_no_capability(
        bundles: dict[str, Path], vpn_site: Path, tmp_path: Path) -> None:
    units = bundles["vpn"] / UNITS
    assert bounding(units / "corridor-vpn.service") == "-all"
    assert bounding(units / "corridor-vpn-monitor.service") == "-all"
    # MobiCash's tunnel authenticates with a certificate from pluto's NSS database, which
    # this scratch pluto lacks; the PSK tunnels are enough to show what apply needs.
    mobicash = vpn_site / "partners/mobicash.yaml"
    mobicash.write_text(mobicash.read_text() + "disabled: true\n")
    data = tmp_path / "data"
    with lab() as w:
        hub_ns = w.ns("vh")
        w.link(hub_ns, "203.0.113.10/24", w.ns("vx"), "203.0.113.1/24")
        hub = PlutoDaemon(hub_ns, tmp_path / "hub", tmp_path / "hub" / "ipsec.d")
        hub.start()
        try:
            applied = as_unit(units / "corridor-vpn.service", "vpn", "apply", "--site",
                              str(vpn_site), "--data", str(data), "--out", str(hub.conf_dir),
                              "--ctlsocket", str(hub.ctl))
            assert applied.returncode == 0, applied.stderr
            assert applied.stdout.split() == ["desertx.conf", "desertx.secrets", "islapay.conf",
                                              "islapay.secrets", "kenpay.conf",
                                              "kenpay.secrets", "payfast.conf",
                                              "payfast.secrets"]
            assert '"payfast"' in hub.whack("--status")
            seen = as_unit(units / "corridor-vpn-monitor.service", "vpn", "monitor", "--site",
                           str(vpn_site), "--data", str(data), "--ctlsocket", str(hub.ctl),
                           "--count", "1", "--metrics", "")
            assert seen.returncode == 0, seen.stderr
            assert seen.stdout.count('"partner"') == 4
        finally:
            hub.stop()

