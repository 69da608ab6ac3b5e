"""The capture filters built from the demo site, and compiled by tcpdump itself."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from corridor.net.capture import SIDES, capture_filter
from corridor.net.errors import NothingToCapture
from corridor.site import load_site
from corridor.site.model import Site
from tests.support import EXAMPLE_SITE, need_root, need_tool


@pytest.fixture(scope="module")
def site() -> Site:
    return load_site(EXAMPLE_SITE)


def compiles(expression: str) -> subprocess.CompletedProcess[str]:
    """tcpdump compiles the filter for the link type a capture on `any` has."""
    return subprocess.run(["tcpdump", "-d", "-i", "any", expression],
                          capture_output=True, text=True, timeout=30, check=False)


def test_outer_is_ike_nat_t_and_esp_with_the_peer(site: Site) -> None:
    f = capture_filter(site, site.partners["payfast"], "outer")
    assert f.expression == ("host 198.51.100.20 and "
                            "(udp port 500 or udp port 4500 or ip proto 50)")


def test_inner_of_a_send_partner_is_its_allowlist_to_eig_and_its_callbacks(site: Site) -> None:
    f = capture_filter(site, site.partners["payfast"], "inner")
    assert [t.bpf for t in f.terms] == [
        "tcp port 8443 and (net 127.0.0.1/32 or net 10.20.1.0/24)",
        "host 127.0.0.1 and tcp port 9101",
    ]
    assert f.terms[1].what == "sender callbacks to 127.0.0.1:9101"


def test_inner_of_a_receive_partner_has_the_hubs_payouts_not_callbacks(site: Site) -> None:
    f = capture_filter(site, site.partners["mobicash"], "inner")
    assert [t.bpf for t in f.terms] == [
        "tcp port 8443 and (net 127.0.0.2/32 or net 10.30.1.0/24)",
        "host 127.0.0.1 and tcp port 9201",
    ]
    assert f.terms[1].what == "payouts to 127.0.0.1:9201"


def test_a_partner_in_both_roles_gets_payouts_and_callbacks(site: Site) -> None:
    both = dataclasses.replace(site.partners["payfast"], role="both",
                               endpoint="https://payfast.example:8080/api")
    f = capture_filter(site, both, "inner")
    assert [t.what for t in f.terms][1:] == [
        "payouts to payfast.example:8080", "sender callbacks to 127.0.0.1:9101"]


def test_an_ipv6_peer_gets_esp_over_ipv6(site: Site) -> None:
    p = site.partners["payfast"]
    assert p.tunnel is not None
    v6 = dataclasses.replace(p, tunnel=dataclasses.replace(p.tunnel, peer_ip="2001:db8::20"))
    assert capture_filter(site, v6, "outer").expression.endswith("or ip6 proto 50)")


def test_no_tunnel_means_nothing_outside_it(site: Site) -> None:
    bare = dataclasses.replace(site.partners["payfast"], tunnel=None)
    with pytest.raises(NothingToCapture, match="payfast has no tunnel"):
        capture_filter(site, bare, "outer")


def test_nothing_inside_without_allowlist_or_urls(site: Site) -> None:
    bare = dataclasses.replace(site.partners["payfast"], allowed_ips=(), callback_url=None)
    with pytest.raises(NothingToCapture, match="nothing to capture on the inner side"):
        capture_filter(site, bare, "inner")


def test_every_filter_of_the_demo_site_compiles(site: Site) -> None:
    need_root()
    need_tool("tcpdump")
    assert compiles("host 192.0.2.1 and (").returncode != 0, "tcpdump -d judges filters"
    payfast = site.partners["payfast"]
    assert payfast.tunnel is not None
    odd = [dataclasses.replace(payfast, id="v6", role="both", endpoint="https://[2001:db8::7]/",
                               tunnel=dataclasses.replace(payfast.tunnel, peer_ip="2001:db8::20"))]
    for partner in [*site.partners.values(), *odd]:
        for side in SIDES:
            expression = capture_filter(site, partner, side).expression
            proc = compiles(expression)
            assert proc.returncode == 0, f"{partner.id} {side}: {expression}: {proc.stderr}"
