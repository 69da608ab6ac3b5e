"""The allowlist judged by real packets between network namespaces.

hub: the EIG (8443) and SSH (22) listen here and Corridor's table is applied here.
partner: PayFast's 10.20.1.0/24 (in its allowed_ips). stranger: 10.77.0.2, in no
allowlist, but named as the jump host, so it may reach SSH and nothing else.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from corridor.net import nft
from corridor.net.cli import firewall
from corridor.net.errors import NotApplied
from corridor.site.edit import move_host
from tests.net.netns import can_connect, lab, sh
from tests.support import need_root, need_tool

LISTEN = "import socket,sys,time\n" \
    "socks=[]\n" \
    "for p in sys.argv[1:]:\n" \
    "    s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" \
    "    s.bind(('0.0.0.0', int(p))); s.listen(64); socks.append(s)\n" \
    "time.sleep(600)\n"


@pytest.fixture
def world(site_dir: Path):  # type: ignore[no-untyped-def]
    need_root()
    need_tool("nft", "ip", "unshare")
    move_host(site_dir, "jump", address="10.77.0.2")
    with lab() as w:
        hub, partner, stranger = w.ns("h"), w.ns("p"), w.ns("s")
        w.link(hub, "10.20.1.1/24", partner, "10.20.1.2/24")
        w.link(hub, "10.77.0.1/24", stranger, "10.77.0.2/24")
        server = subprocess.Popen(["ip", "netns", "exec", hub, sys.executable, "-c", LISTEN,
                                   "8443", "22"])
        try:
            from tests.support import wait_for
            wait_for(lambda: can_connect(hub, "127.0.0.1", 8443), 10, what="listener up")
            yield site_dir, hub, partner, stranger
        finally:
            server.kill()
            server.wait()


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(firewall, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_allowlist_admits_partner_and_drops_stranger(world, tmp_path: Path) -> None:
    site, hub, partner, stranger = world
    # Another tool's table in the same namespace must survive every apply.
    sh("nft", "add table inet othertool; add set inet othertool keep { type ipv4_addr; }; "
       "add element inet othertool keep { 192.0.2.7 }", ns=hub)
    assert can_connect(stranger, "10.77.0.1", 8443), "no firewall yet: everyone gets in"

    code, out = cli("apply", "--site", str(site), "--data", str(tmp_path), "--netns", hub)
    assert code == 0, out
    assert can_connect(partner, "10.20.1.1", 8443)
    assert not can_connect(stranger, "10.77.0.1", 8443, timeout=0.5)
    assert can_connect(stranger, "10.77.0.1", 22), "the jump host reaches SSH"
    assert not can_connect(partner, "10.20.1.1", 22, timeout=0.5), "partners never reach SSH"
    assert "192.0.2.7" in sh("nft", "list", "table", "inet", "othertool", ns=hub).stdout

    code, out = cli("show", "--netns", hub, "--json")
    counters = {c["rule"]: c["packets"] for c in map(json.loads, out.splitlines())}
    assert counters["eig payfast"] >= 1
    assert counters["eig mobicash"] == 0
    assert counters["drop eig"] >= 1
    assert counters["drop ssh"] >= 1
    # The same counters for Prometheus, and the drops per source: the stranger at EIG's
    # port, the partner at SSH's.
    code, out = cli("metrics", "--netns", hub, "--once")
    metrics = {(s.name, tuple(s.labels.values())): s.value
               for f in text_string_to_metric_families(out) for s in f.samples}
    assert metrics[("corridor_firewall_loaded", ())] == 1
    assert metrics[("corridor_firewall_packets_total", ("drop eig",))] >= 1
    assert metrics[("corridor_firewall_packets_total", ("eig payfast",))] >= 1
    sources = {labels[0]: v for (name, labels), v in metrics.items()
               if name == "corridor_firewall_dropped_packets_total"}
    assert set(sources) == {"10.77.0.2", "10.20.1.2"} and min(sources.values()) >= 1

    log = [json.loads(line) for line in (tmp_path / "net" / "apply.log").read_text().splitlines()]
    assert log[-1]["ok"] and log[-1]["what"] == "firewall" and log[-1]["changed"]

    code, out = cli("diff", "--site", str(site), "--netns", hub)
    assert (code, out.strip()) == (0, "no drift")
    # Someone lets the stranger in by hand: diff sees it, apply puts the site back.
    sh("nft", "add element inet corridor eig_payfast_v4 { 10.77.0.0/24 }", ns=hub)
    assert can_connect(stranger, "10.77.0.1", 8443)
    code, out = cli("diff", "--site", str(site), "--netns", hub)
    assert code == 1 and "+ eig_payfast_v4 10.77.0.0/24" in out
    code, out = cli("apply", "--site", str(site), "--data", str(tmp_path), "--netns", hub)
    assert code == 0 and "eig_payfast_v4: -1" in out
    assert not can_connect(stranger, "10.77.0.1", 8443, timeout=0.5)
    assert "192.0.2.7" in sh("nft", "list", "table", "inet", "othertool", ns=hub).stdout


def test_site_change_applies_and_failed_apply_keeps_previous_rules(world, tmp_path: Path) -> None:
    site, hub, _partner, stranger = world
    assert cli("apply", "--site", str(site), "--data", str(tmp_path), "--netns", hub)[0] == 0
    # The operator adds the stranger's network to MobiCash's allowlist in the site.
    mobicash = site / "partners" / "mobicash.yaml"
    mobicash.write_text(mobicash.read_text().replace(
        "allowed_ips: [127.0.0.2/32, 10.30.1.0/24]",
        "allowed_ips: [127.0.0.2/32, 10.30.1.0/24, 10.77.0.0/24]"))
    code, out = cli("diff", "--site", str(site), "--netns", hub)
    assert code == 1 and "- eig_mobicash_v4 10.77.0.0/24" in out
    assert cli("apply", "--site", str(site), "--data", str(tmp_path), "--netns", hub)[0] == 0
    assert can_connect(stranger, "10.77.0.1", 8443)

    before = nft.live_json(hub)
    with pytest.raises(NotApplied):
        nft.apply("table inet corridor {}\ndelete table inet corridor\n"
                  "table inet corridor { chain input { tcp dport 8443 bogus } }\n", hub)
    assert nft.set_elements(nft.live_json(hub)) == nft.set_elements(before)  # type: ignore[arg-type]
    assert can_connect(stranger, "10.77.0.1", 8443)


def test_bench_prints_one_json_object_wherever_it_is_started(tmp_path: Path) -> None:
    # A bench builds its own world from the demo site shipped with the package: it runs
    # from any directory and writes nothing there.
    need_root()
    need_tool("nft", "ip")
    env = {k: v for k, v in os.environ.items() if k != "CORRIDOR_SITE"}
    result = subprocess.run(
        [sys.executable, "-m", "corridor", "bench", "firewall", "--cidrs", "3000",
         "--partners", "30"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["cidrs"] == 3000 and figures["loaded"] >= 3000
    assert {"render_s", "apply_s", "check_s"} <= set(figures)
    assert list(tmp_path.iterdir()) == []
