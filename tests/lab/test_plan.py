"""The lab's plan from the demo site (pure), and the `lab` block's checks in `site check`."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from corridor.lab import zones
from corridor.lab.errors import LabError
from corridor.lab.plan import collisions, plan
from corridor.site import check_site, load_site
from tests.support import EXAMPLE_SITE


def faults(site: Path) -> list[str]:
    return [str(f) for f in check_site(site)]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_demo_site_plans_one_host_per_server_and_per_partner_end() -> None:
    p = plan(load_site(EXAMPLE_SITE))
    assert set(p.hosts) == {"net", "vpn", "eig", "txn", "rpt", "jump", "desk", "stranger",
                            "payfast", "payfast-gw", "mobicash", "mobicash-gw", "islapay",
                            "islapay-gw", "desertx", "desertx-gw", "kenpay", "kenpay-gw"}
    assert p.hosts["txn"].servers == ("txn", "sshd")
    assert p.hosts["vpn"].servers == ("pluto", "sshd")
    assert p.hosts["payfast-gw"].servers == ("pluto",)
    assert p.hosts["payfast"].servers == ("sim callbacks",)
    assert p.hosts["mobicash"].servers == ("sim payouts",)
    # The partners' own addresses come from their tunnel blocks.
    pay = p.partners["payfast"]
    assert (str(pay.peer_ip), str(pay.face), str(pay.app_addr)) == (
        "198.51.100.20", "10.99.0.1", "10.20.1.2")
    assert str(p.hosts["payfast-gw"].addresses[0]) == "198.51.100.20/24"
    # Without leftsourceip pluto routes nothing: the vpn host routes each partner subnet
    # from the partner's face, and each gateway routes the hub subnets from its LAN address.
    routes = {(r.dest, str(r.src)) for r in p.hosts["vpn"].routes}
    assert ("10.20.1.0/24", "10.99.0.1") in routes and ("10.30.1.0/24", "10.99.1.1") in routes
    gw = {(r.dest, str(r.src)) for r in p.hosts["mobicash-gw"].routes}
    assert ("10.99.1.0/24", "10.30.1.1") in gw
    assert str(p.address("vpn")) == "10.98.2.1"


def test_zone_rules_admit_only_the_flows_the_seed_draws() -> None:
    p = plan(load_site(EXAMPLE_SITE))
    labels = {f.label for f in p.flows}
    assert {"payfast -> eig api (tunnel)", "eig -> txn api", "rpt -> txn feed",
            "txn -> mobicash payouts (tunnel)", "txn -> payfast callbacks (tunnel)",
            "desk -> jump bastion", "jump -> txn ssh", "jump -> vpn ssh"} <= labels
    assert not any(f.port == 22 and f.src != "jump" for f in p.flows)
    assert {f.port for f in p.flows if f.src == "eig"} == {8444, 8445}
    vpn = zones.vpn_rules(p)
    assert "policy drop;" in vpn and 'counter drop comment "drop forward"' in vpn
    assert ("meta ipsec exists ip saddr 10.20.1.0/24 ip daddr 10.99.0.1 tcp dport 8443 "
            'counter dnat ip to 10.98.0.10:8443 comment "payfast face -> eig"') in vpn
    assert 'snat ip to 10.99.1.1 comment "hub -> mobicash from its face"' in vpn
    assert "rt ipsec missing counter drop" in vpn
    txn = zones.host_rules(p, "txn")
    assert 'ip saddr 10.98.0.10 ip daddr 10.98.1.10 tcp dport 8444 counter accept' in txn
    assert 'tcp dport 22 counter accept comment "jump -> txn ssh"' in txn
    assert txn.count("accept comment") == 3


def test_lab_networks_that_overlap_are_reported_at_their_line(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    edit(hub, "core: 10.98.1.0/24", "core: 10.20.0.0/16")
    found = faults(site_dir)
    line = line_of(hub, "core: 10.20.0.0/16")
    assert (f"hub.yaml:{line}: lab.segments.core 10.20.0.0/16 overlaps payfast's "
            "tunnel.partner_subnets 10.20.1.0/24 (partners/payfast.yaml:18)") in found
    assert f"hub.yaml:{line_of(hub, 'addresses:')}: lab: host txn 10.98.1.10 is not a host " \
           "address of segment core 10.20.0.0/16" in found


def test_lab_addresses_taken_twice_or_outside_the_internet(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    edit(hub, "stranger: 198.51.100.66", "stranger: 198.51.100.20")
    edit(hub, "internet: [203.0.113.0/24, 198.51.100.0/24]", "internet: [198.51.100.0/24]")
    found = faults(site_dir)
    assert any(f.endswith("lab: hub.public_ip 203.0.113.10 is outside lab.internet")
               for f in found), found
    assert any("payfast's tunnel.peer_ip (partners/payfast.yaml:18) 198.51.100.20 is also "
               "the stranger" in f for f in found), found


def test_a_host_without_a_lab_address(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    edit(hub, "rpt: 10.98.1.20, ", "")
    assert f"hub.yaml:{line_of(hub, 'addresses:')}: lab.addresses: missing an address for " \
           "host 'rpt' (core)" in faults(site_dir)


def test_a_site_without_a_lab_block_plans_nothing(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    text = hub.read_text()
    start = text.index("lab:")
    hub.write_text(text[:start] + text[text.index("# Stores."):])
    assert faults(site_dir) == []
    with pytest.raises(LabError, match="has no lab block"):
        plan(load_site(site_dir))


def test_collision_with_this_machine_is_one_line_per_network() -> None:
    p = plan(load_site(EXAMPLE_SITE))
    machine = [ipaddress.IPv4Interface("127.0.0.1/8"), ipaddress.IPv4Interface("10.98.0.5/16")]
    assert collisions(p, machine) == [
        f"lab network {n} overlaps this machine's address 10.98.0.5/16"
        for n in ("10.98.0.0/24", "10.98.1.0/24", "10.98.2.0/24")]
    assert collisions(p, [ipaddress.IPv4Interface("192.0.2.2/24")]) == []
