"""Two ends of real tunnels: a hub pluto configured by `vpn apply` and partner plutos
configured from `vpn kit`, each in its own namespace. IKEv2 authenticates with a PSK
(PayFast) and with certificates (MobiCash). This kernel has no ESP, so the Child SA
fails: `vpn status` must say exactly that, "IKE up, IPsec SA down"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corridor.net.cli import vpn
from corridor.net.plutod import PlutoDaemon, TunnelCA
from tests.net.netns import lab, sh
from tests.net.test_render import make_psks
from tests.support import need_root, need_tool, wait_for


def run_vpn(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(vpn, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def status(site: Path, ctl: Path) -> dict[str, dict[str, object]]:
    code, out = run_vpn("status", "--site", str(site), "--ctlsocket", str(ctl), "--json")
    assert code == 0, out
    return {t["partner"]: t for t in map(json.loads, out.splitlines())}


def _disable(site: Path, *partners: str) -> None:
    for pid in partners:
        path = site / "partners" / f"{pid}.yaml"
        path.write_text(path.read_text() + "disabled: true\n")


@pytest.fixture
def tunnels(site_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    need_root()
    need_tool("ip", "ipsec", "certutil", "pk12util")
    make_psks(site_dir)
    _disable(site_dir, "islapay", "desertx", "kenpay")
    with lab() as w:
        hub_ns, pay_ns, mob_ns = w.ns("vh"), w.ns("vp"), w.ns("vm")
        bridge = "cbr0"
        sh("ip", "link", "add", bridge, "type", "bridge", ns=hub_ns)
        sh("ip", "addr", "add", "203.0.113.10/24", "dev", bridge, ns=hub_ns)
        sh("ip", "link", "set", bridge, "up", ns=hub_ns)
        sh("ip", "route", "add", "198.51.100.0/24", "dev", bridge, ns=hub_ns)
        for ns, addr in ((pay_ns, "198.51.100.20/24"), (mob_ns, "198.51.100.30/24")):
            # The hub end joins the bridge; the partner end carries the peer's public IP.
            hub_end, peer_end = w.link(hub_ns, "192.0.2.250/32", ns, addr)
            sh("ip", "addr", "flush", "dev", hub_end, ns=hub_ns)
            sh("ip", "link", "set", hub_end, "master", bridge, ns=hub_ns)
            sh("ip", "route", "add", "203.0.113.0/24", "dev", peer_end, ns=ns)
        peers = {
            "hub": PlutoDaemon(hub_ns, tmp_path / "hub", tmp_path / "hub" / "ipsec.d"),
            "payfast": PlutoDaemon(pay_ns, tmp_path / "payfast", tmp_path / "payfast" / "kit"),
            "mobicash": PlutoDaemon(mob_ns, tmp_path / "mobicash", tmp_path / "mobicash" / "kit"),
        }
        ca = TunnelCA(tmp_path)
        for name, nick, fqdn in (("hub", "corridor-hub", "vpn.corridor.example"),
                                 ("mobicash", "mobicash", "vpn.mobicash.example")):
            peers[name].import_ca(ca.pem)
            peers[name].import_p12(ca.issue(nick, fqdn, "test-pass"), "test-pass")
        try:
            for peer in peers.values():
                peer.start()
            yield site_dir, tmp_path, peers
        finally:
            for peer in peers.values():
                peer.stop()


def test_psk_and_certificate_tunnels_authenticate(tunnels) -> None:  # type: ignore[no-untyped-def]
    site, tmp, peers = tunnels
    hub = peers["hub"]
    data = tmp / "var"
    code, out = run_vpn("apply", "--site", str(site), "--data", str(data),
                        "--out", str(hub.conf_dir), "--ctlsocket", str(hub.ctl))
    assert code == 0, out
    assert out.split() == ["mobicash.conf", "payfast.conf", "payfast.secrets"]
    for pid, psk in (("payfast", True), ("mobicash", False)):
        args = ["kit", pid, "--site", str(site), "--out", str(peers[pid].conf_dir)]
        code, out = run_vpn(*args, *(["--with-psk"] if psk else []))
        assert code == 0, out
        if psk:
            peers[pid].whack("--rereadsecrets")
        peers[pid].load(peers[pid].conf_dir / "corridor-hub.conf", "corridor-hub")

    def both_ike_only() -> bool:
        s = status(site, hub.ctl)
        return all(s[p]["state"] == "ike-only" for p in ("payfast", "mobicash"))

    wait_for(both_ike_only, 20, 0.2, what="IKE SAs with both partners")
    s = status(site, hub.ctl)
    assert s["payfast"]["label"] == "IKE up, IPsec SA down"
    assert s["payfast"]["ipsec_sa"] is None and s["payfast"]["bytes_in"] == 0
    assert set(s) == {"payfast", "mobicash"}

    log = hub.log_text()
    assert "established IKE SA; authenticated peer using authby=secret and ID_FQDN " \
           "'@vpn.payfast.example'" in log
    cert_lines = [ln for ln in log.splitlines()
                  if '"mobicash"' in ln and "established IKE SA; authenticated peer" in ln]
    assert cert_lines and "using peer certificate" in cert_lines[0], cert_lines
    assert "established IKE SA; authenticated peer" in peers["payfast"].log_text()

    code, out = run_vpn("status", "--site", str(site), "--ctlsocket", str(hub.ctl))
    assert "IKE up, IPsec SA down" in out and "payfast" in out

    code, out = run_vpn("monitor", "--site", str(site), "--data", str(data), "--ctlsocket",
                        str(hub.ctl), "--count", "1", "--metrics", "")
    assert code == 0, out
    seen = {e["partner"]: e["to"] for e in map(json.loads, out.splitlines())}
    assert seen == {"payfast": "ike-only", "mobicash": "ike-only"}
    assert (data / "net" / "tunnels.log").read_text().count("IKE up, IPsec SA down") == 2

    # A change to MobiCash's proposals replaces its conn only: PayFast's IKE SA stays.
    payfast_sa = s["payfast"]["ike_sa"]
    path = site / "partners" / "mobicash.yaml"
    path.write_text(path.read_text().replace("esp: aes256-sha2_256", "esp: aes128-sha2_256"))
    code, out = run_vpn("apply", "--site", str(site), "--data", str(data),
                        "--out", str(hub.conf_dir), "--ctlsocket", str(hub.ctl))
    assert (code, out.split()) == (0, ["mobicash.conf"])
    assert status(site, hub.ctl)["payfast"]["ike_sa"] == payfast_sa
    assert "esp=aes128-sha2_256" in (hub.conf_dir / "mobicash.conf").read_text()
    entries = [json.loads(x) for x in (data / "net" / "apply.log").read_text().splitlines()]
    assert [e["changed"] for e in entries] == [
        ["mobicash.conf", "payfast.conf", "payfast.secrets"], ["mobicash.conf"]]

    # A configured tunnel that pluto does not have is down, and says why.
    hub.whack("--delete", "--name", "payfast")
    s = status(site, hub.ctl)
    assert s["payfast"]["state"] == "absent"
    assert s["payfast"]["label"] == "down: configured in the site but not loaded in pluto"

    # A refused apply writes nothing and leaves pluto's conns as they were.
    path.write_text(path.read_text().replace("peer_id: \"@vpn.mobicash.example\"",
                                             "peer_id: \"@vpn.mobicash.example\"\n  bogus: 1"))
    code, out = run_vpn("apply", "--site", str(site), "--data", str(data),
                        "--out", str(hub.conf_dir), "--ctlsocket", str(hub.ctl))
    assert code == 2 and "partners/mobicash.yaml:" in out and "unknown field" in out
    assert '"mobicash": 10.99.1.0/24===' in hub.whack("--status")
    assert "esp=aes128-sha2_256" in (hub.conf_dir / "mobicash.conf").read_text()
