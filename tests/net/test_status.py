"""pluto's own output, kept as fixtures (ike-only, half-open and down were captured from
pluto 4.10; established and rekeying add the Child SA and traffic lines of the same
format), parsed into what `vpn status` and the monitor report."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.net.status import parse, totals

FIXTURES = Path(__file__).parent / "fixtures"
CONFIGURED = ["mobicash", "payfast"]


def read(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    ("fixture", "state", "label", "ike", "ipsec"),
    [
        ("established", "up", "up", 9, 10),
        ("rekeying", "up", "up (rekeying)", 9, 10),
        ("ike-only", "ike-only", "IKE up, IPsec SA down", 9, None),
        ("half-open", "negotiating", "half-open: IKE negotiating, not authenticated", None,
         None),
        ("down", "down", "down: loaded in pluto, no SA", None, None),
    ],
)
def test_each_state(fixture: str, state: str, label: str, ike: int | None,
                    ipsec: int | None) -> None:
    t = parse(read(fixture), CONFIGURED)["payfast"]
    assert (t.state, t.label, t.ike_sa, t.ipsec_sa) == (state, label, ike, ipsec)
    assert t.loaded and t.configured


def test_traffic_and_since() -> None:
    t = parse(read("established"), CONFIGURED)["payfast"]
    assert (t.bytes_in, t.bytes_out, t.ipsec_since) == (1180, 2360, 1764038303)
    assert t.ike_life_s == 28800 and t.ike_age_s == 28800 - 28564


def test_configured_but_absent_counts_as_down() -> None:
    t = parse(read("established"), CONFIGURED)["mobicash"]
    assert t.state == "absent" and not t.up
    assert t.label == "down: configured in the site but not loaded in pluto"


def test_loaded_but_not_in_the_site() -> None:
    tunnels = parse(read("established"), ["mobicash"])
    assert tunnels["payfast"].state == "unexpected"


def test_no_pluto_output_means_every_tunnel_absent() -> None:
    assert {t.state for t in parse("", CONFIGURED).values()} == {"absent"}


def test_briefstatus_totals() -> None:
    assert totals(read("half-open")).ike_half_open == 1
    assert (totals(read("rekeying")).ike, totals(read("rekeying")).ipsec) == (2, 1)
