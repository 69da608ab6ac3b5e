"""hub.yaml's `routing`: routes are checked against the partner files, each fault at its
line, and the routing rule decides which receive partner a quote names."""

from pathlib import Path

from corridor.site import check_site, load_site
from tests.site.test_check import edit, faults, line_of

ROUTE = "- {corridor: IN-KE, method: wallet, priority: [mobicash, kenpay]}"


def test_a_route_to_a_partner_that_does_not_serve_the_corridor(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    edit(hub, ROUTE, "- {corridor: IN-KE, method: wallet, priority: [mobicash, islapay]}")
    line = line_of(hub, "priority: [mobicash, islapay]")
    assert faults(site_dir) == [
        f"hub.yaml:{line}: route IN-KE wallet: islapay pays out in PH, not KE: it does not "
        "serve this corridor"]


def test_a_route_by_a_method_the_partner_does_not_offer(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    edit(hub, ROUTE, "- {corridor: IN-KE, method: bank, priority: [mobicash, kenpay]}")
    line = line_of(hub, "method: bank")
    assert f"hub.yaml:{line}: route IN-KE bank: mobicash does not pay out by bank (it offers " \
           "wallet)" in faults(site_dir)


def test_unknown_partner_sender_and_both_rules(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    edit(hub, ROUTE, "- {corridor: IN-KE, method: wallet, priority: [mobicash, nobody]}\n"
                     "  - {corridor: IN-PH, method: wallet, priority: [payfast]}\n"
                     "  - {corridor: IN-PH, method: bank, priority: [islapay], "
                     "weights: {islapay: 1}}")
    got = faults(site_dir)
    assert f"hub.yaml:{line_of(hub, 'nobody')}: route IN-KE wallet: no partner 'nobody'" in got
    assert f"hub.yaml:{line_of(hub, '[payfast]')}: route IN-PH wallet: payfast is not a " \
           "receive partner" in got
    assert any(g.startswith(f"hub.yaml:{line_of(hub, 'weights: {islapay')}: a route names its "
                            "partners under exactly one of") for g in got)


def test_two_kenyan_wallets_without_a_route_are_ambiguous(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    text = hub.read_text()
    start = text.index("routing:")
    hub.write_text(text[:start] + text[text.index("\ncompliance:", start) + 1:])
    assert any("routing to KE/KES is ambiguous" in f for f in faults(site_dir))


def test_the_route_decides_the_quoted_partner(site_dir: Path) -> None:
    hub = site_dir / "hub.yaml"
    edit(hub, ROUTE, "- {corridor: IN-KE, method: wallet, priority: [kenpay, mobicash]}")
    assert check_site(site_dir) == []
    site = load_site(site_dir)
    assert site.receive_partner_for("KE", "KES").id == "kenpay"  # type: ignore[union-attr]
    route = site.route("AE-KE", "wallet")
    assert route is not None and route.rule == "weight"
    firsts = [route.ranking(f"t{i}")[0] for i in range(400)]
    assert 240 < firsts.count("mobicash") < 360  # weights 3:1
    assert route.ranking("t1") == route.ranking("t1")  # stable per transfer
