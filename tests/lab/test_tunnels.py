"""Partner traffic through real IPsec (ESP) tunnels, in the lab as `corridor lab up` builds
it on this machine: inside the lab VM where this kernel has no ESP (one VM boot and one
lab for the module), directly where it has.

- the journey (`corridor lab demo`) crosses the tunnels, and PayFast's internet link
  carries only IKE and ESP meanwhile (a capture summarised by corridor.net.pcapsummary);
- a sender inside PayFast's network but outside its allowlist is refused, its address
  recorded with its dropped packets;
- PayFast's tunnel cut on its link and restored: `corridor vpn monitor` records the down
  transition, runs its alert, counts the downtime and records the return; a transfer
  tried meanwhile never reaches EIG, and PayFast's transfers go through afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corridor.net import nft
from corridor.net.firewall import TABLE as ALLOWLIST
from corridor.net.pcapsummary import summarise
from tests.lab.rig import corridor
from tests.lab.vmrig import DEMO_S, VMLab, vm_lab
from tests.support import wait_for

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VMLab]:
    with vm_lab(tmp_path_factory.mktemp("lab"), "esp") as built:
        yield built


def _lab_site(lab: VMLab) -> str:
    return f"/run/corridor-lab/{lab.name}/site"


def _eig_url(lab: VMLab, partner: str) -> str:
    return f"https://{lab.plan.partners[partner].face}:{lab.plan.ports['eig']}"


def _fund(lab: VMLab, partner: str) -> None:
    funded = lab.corridor("ledger", "fund", partner, "1000000.00", "--reference",
                          f"LABTEST-{time.time_ns()}", "--site", _lab_site(lab), "--data",
                          f"/run/corridor-lab/{lab.name}/hosts/txn/data", ns="txn")
    assert funded.returncode == 0, funded.stderr


def _send(lab: VMLab, partner: str, count: int, timeout: float = 60,
          ) -> tuple[int, dict[str, Any] | None, str]:
    """`corridor sim send-partner send` from the partner's application host, through its
    tunnel: its exit code, its JSON summary (None when it printed none) and stderr."""
    done = lab.corridor("sim", "send-partner", "--site", _lab_site(lab), "--partner",
                        partner, "--eig", _eig_url(lab, partner), "send", "--count",
                        str(count), "--concurrency", "4", "--poll", "--timeout", str(timeout),
                        ns=lab.plan.partners[partner].app, timeout=DEMO_S)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    return done.returncode, (json.loads(lines[-1]) if lines else None), done.stderr


def test_the_journey_crosses_the_tunnels_and_payfast_link_carries_only_ike_and_esp(
        lab: VMLab) -> None:
    pcap, log = lab.shared / "payfast-internet.pcap", lab.shared / "tcpdump.log"
    tcpdump = lab.background(["ip", "netns", "exec", lab.ns("payfast-gw"), "tcpdump", "-n",
                              "-U", "-i", "internet", "-w", str(pcap), "ip"], log)
    wait_for(lambda: "listening on" in _read(log), 300, 0.5, what="tcpdump listening")
    esp_before = lab.counter("vpn", "esp to payfast")

    started = time.monotonic()
    demo = corridor("lab", "demo", *lab.args(), timeout=DEMO_S)
    print(f"\njourney in {time.monotonic() - started:.1f}s\n{demo.stdout}")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo complete" in demo.stdout
    assert "EIG  sees the caller at 10.20.1." in " ".join(demo.stdout.split())

    lab.inside(["kill", "-INT", str(tcpdump)])
    wait_for(lambda: not lab.running(tcpdump), 120, 0.5, what="tcpdump to finish its file")
    seen = summarise(pcap)
    # Everything PayFast's gateway exchanged with the internet meanwhile: IKE and ESP only,
    # so no TCP to EIG's port (or any other) in clear.
    assert seen.esp > 0 and seen.packets == seen.ike + seen.esp, seen.as_dict()
    # The kernel's and pluto's counters moved too.
    assert lab.counter("vpn", "esp to payfast") > esp_before
    payfast = lab.tunnel("payfast")
    assert payfast["state"] == "up" and payfast["bytes_in"] > 0 and payfast["bytes_out"] > 0
    assert lab.tunnel("mobicash")["bytes_out"] > 0  # the payout went through MobiCash's


def test_a_sender_outside_payfast_allowlist_is_refused_and_recorded(lab: VMLab) -> None:
    app = lab.ns(lab.plan.partners["payfast"].app)
    stray = "10.20.9.9"  # in PayFast's network, outside its allowed_ips (10.20.1.0/24)
    assert lab.inside(["ip", "-n", app, "addr", "add", f"{stray}/32", "dev", "lo"]).returncode == 0
    def drops() -> int:
        return sum(n for rule, n in lab.counters("vpn").items() if rule.startswith("drop"))

    before = drops()
    tried = lab.inside(["ip", "netns", "exec", app, "curl", "-sk", "--interface", stray,
                        "--connect-timeout", "10", f"{_eig_url(lab, 'payfast')}/healthz"])
    assert tried.returncode != 0  # no answer: dropped, not refused by EIG after a handshake
    wait_for(lambda: drops() > before, 120, 1, what="the vpn host's drop counters")
    # The allowlist records each refused source with its packets (`dropped_v4`).
    refused = nft.dropped_sources(lab.table("vpn", ALLOWLIST))
    assert stray in [d.source for d in refused if d.packets > 0], refused


def test_a_tunnel_cut_and_restored_is_recorded_and_transfers_resume(lab: VMLab) -> None:
    _fund(lab, "payfast")
    before = _send(lab, "payfast", 2)
    assert before[0] == 0 and before[1] is not None, before[2]
    assert before[1]["statuses"] == {"COMPLETED": 2}

    shared = lab.shared
    alert = shared / "alert.sh"
    alerts = shared / "alerts"
    alert.write_text(f'#!/bin/sh\necho "$CORRIDOR_PARTNER $CORRIDOR_TUNNEL_STATE" >> {alerts}\n')
    alert.chmod(0o755)
    tunnels_log = shared / "monitor" / "net" / "tunnels.log"
    ctl = f"/run/corridor-lab/{lab.name}/hosts/vpn/pluto/run/pluto.ctl"
    monitor = lab.background(
        lab.corridor_argv("vpn", "monitor", "--site", _lab_site(lab), "--data",
                          str(shared / "monitor"), "--ctlsocket", ctl, "--interval", "2",
                          "--metrics", "127.0.0.1:9108", "--alert-cmd", str(alert),
                          "--alert-after", "4"), shared / "monitor.out")
    try:
        wait_for(lambda: _events(tunnels_log, "payfast", "up"), 300, 1,
                 what="the monitor's first sample: PayFast's tunnel up")

        # UDP 500/4500 and ESP dropped on PayFast's internet link, both ways.
        gw = lab.ns("payfast-gw")
        cut = ("table inet cut { chain c { type filter hook %s priority -10; "
               "udp port { 500, 4500 } drop; meta l4proto esp drop; } }")
        for hook in ("input", "output"):
            done = lab.inside(["ip", "netns", "exec", gw, "nft", cut.replace(
                "table inet cut", f"table inet cut{hook}") % hook])
            assert done.returncode == 0, done.stderr
        # A transfer tried now never gets an answer: its TCP never reaches EIG.
        code, summary, _ = _send(lab, "payfast", 1, timeout=10)
        assert code != 0 and summary is not None and summary["statuses"] == {}, summary

        # Dead peer detection gives the peer up (about a minute), and the monitor sees it.
        wait_for(lambda: _events(tunnels_log, "payfast", "down", "ike-only", "absent"),
                 600, 1, what="the monitor's down transition")
        wait_for(lambda: "payfast" in _read(alerts), 120, 1, what="the alert")
        for hook in ("input", "output"):
            assert lab.inside(["ip", "netns", "exec", gw, "nft", "delete", "table", "inet",
                               f"cut{hook}"]).returncode == 0
        # Either end dials again (dpdaction=restart, auto=start) and the monitor sees it.
        down_at = len(_read(tunnels_log).splitlines())
        wait_for(lambda: _events(tunnels_log, "payfast", "up", skip=down_at), 600, 1,
                 what="the monitor's up transition")
        metrics = lab.inside(["curl", "-s", "http://127.0.0.1:9108/metrics"]).stdout
        uptime = _metric(metrics, 'corridor_tunnel_uptime_ratio{partner="payfast"}')
        assert 0 < uptime < 1  # the downtime counted
        assert _metric(metrics, 'corridor_tunnel_transitions_total{partner="payfast"}') >= 2

        after = _send(lab, "payfast", 3)
        assert after[0] == 0 and after[1] is not None, after[2]
        assert after[1]["statuses"] == {"COMPLETED": 3} and after[1]["errors"] == {}
    finally:
        lab.inside(["kill", str(monitor)])


def _events(log: Path, partner: str, *states: str, skip: int = 0) -> list[dict[str, Any]]:
    lines = _read(log).splitlines()[skip:]
    events = [json.loads(ln) for ln in lines if ln.strip()]
    return [e for e in events if e["partner"] == partner and e["to"] in states]


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no {name} in the monitor's metrics:\n{text}")


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
