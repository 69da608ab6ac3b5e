"""What `vpn render`, `vpn kit` and `firewall render` produce from the demo site."""

from __future__ import annotations

import ipaddress
import json
import os
import stat
from pathlib import Path

from click.testing import CliRunner

from corridor.net import firewall as rules
from corridor.net.cli import vpn
from corridor.site import load_site
from tests.support import need_tool

PSK = "k" * 20 + "\"quote'and spaces " + "z" * 10


def make_psks(site: Path) -> None:
    (site / "secrets").mkdir(exist_ok=True)
    for pid in ("payfast", "islapay", "desertx", "kenpay"):
        path = site / "secrets" / f"{pid}.psk"
        path.write_text(PSK + "\n")
        os.chmod(path, 0o600)


def test_vpn_render_writes_conn_and_0600_secrets(site_dir: Path, tmp_path: Path) -> None:
    make_psks(site_dir)
    out = tmp_path / "ipsec.d"
    result = CliRunner().invoke(vpn, ["render", "--site", str(site_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["desertx.conf", "desertx.secrets", "islapay.conf", "islapay.secrets",
                     "kenpay.conf", "kenpay.secrets", "mobicash.conf", "payfast.conf",
                     "payfast.secrets"]
    conn = (out / "payfast.conf").read_text()
    assert "\nconn payfast\n" in conn
    for line in ("ikev2=insist", "left=203.0.113.10",
                 "leftid=@vpn.corridor.example", "leftsubnet=10.99.0.0/24",
                 "right=198.51.100.20", "rightid=@vpn.payfast.example",
                 "rightsubnet=10.20.1.0/24", "authby=secret", "ike=aes256-sha2_256;dh19",
                 "dpdaction=restart", "auto=start"):
        assert f"\t{line}\n" in conn
    assert stat.S_IMODE((out / "payfast.secrets").stat().st_mode) == 0o600
    assert PSK not in (out / "payfast.secrets").read_text(), "the key is base64, never raw"
    cert = (out / "mobicash.conf").read_text()
    assert "\tleftcert=corridor-hub\n" in cert and "\trightca=%same\n" in cert
    assert "authby=secret" not in cert


def test_kit_mirrors_the_hub_side(site_dir: Path, tmp_path: Path) -> None:
    make_psks(site_dir)
    out = tmp_path / "kit"
    result = CliRunner().invoke(vpn, ["kit", "payfast", "--site", str(site_dir),
                                      "--out", str(out), "--with-psk"])
    assert result.exit_code == 0, result.output
    kit = json.loads((out / "kit.json").read_text())
    assert kit["hub_public_ip"] == "203.0.113.10" and kit["your_subnets"] == ["10.20.1.0/24"]
    conn = (out / "corridor-hub.conf").read_text()
    assert "\tleft=198.51.100.20\n" in conn and "\tright=203.0.113.10\n" in conn
    assert "\trightsubnet=10.99.0.0/24\n" in conn
    secrets = (out / "corridor-hub.secrets").read_text()
    assert "@vpn.payfast.example @vpn.corridor.example : PSK 0s" in secrets
    result = CliRunner().invoke(vpn, ["kit", "nobody", "--site", str(site_dir),
                                      "--out", str(out)])
    assert result.exit_code == 1 and result.output.startswith("error: no partner 'nobody'")


def test_firewall_ruleset_owns_one_table_and_merges_cidrs(site_dir: Path) -> None:
    text = rules.render(rules.allowlist(load_site(site_dir)))
    assert "flush ruleset" not in text
    assert "delete table inet corridor" in text
    assert "set eig_payfast_v4 { type ipv4_addr; flags interval; " \
           "elements = { 10.20.1.0/24, 127.0.0.1/32 } }" in text
    assert 'tcp dport 8443 ip saddr @eig_payfast_v4 counter accept comment "eig payfast"' in text
    assert "udp dport { 500, 4500 } ip saddr @tunnel_peers_v4" in text
    assert "meta l4proto esp ip saddr @tunnel_peers_v4" in text
    assert 'tcp dport 8443 counter drop comment "drop eig"' in text
    assert "limit rate 10/minute" in text
    # CIDRs covered by a wider one of the same partner are dropped: nft refuses overlaps.
    merged = rules.Family.of([ipaddress.ip_network(n) for n in
                              ("10.0.1.0/24", "10.0.0.0/16", "10.1.0.0/16", "2001:db8::/32")])
    assert [str(n) for n in merged.v4] == ["10.0.0.0/16", "10.1.0.0/16"]
    assert len(merged.v6) == 1


def test_vpn_check_runs_libreswan_on_the_result(site_dir: Path) -> None:
    need_tool("ipsec")
    make_psks(site_dir)
    result = CliRunner().invoke(vpn, ["check", "--site", str(site_dir)])
    assert (result.exit_code, result.output.strip()) == (0, "5 tunnel(s): ok")
