"""Partner traffic through real IPsec (ESP) tunnels, in the lab as `corridor lab up` builds
it on this machine: inside the lab VM where this kernel has no ESP (one VM boot and one
lab for the module), directly where it has.

- the journey (`corridor lab demo`) crosses the tunnels, and PayFast's internet link
  carries only IKE and ESP meanwhile (a capture summarised by corridor.net.pcapsummary);
- a sender inside PayFast's tunnel but outside its allowlist is refused by EIG and
  audited;
- PayFast's tunnel cut on its link and restored: `corridor vpn monitor` records the down
  transition, runs its alert, counts the downtime and records the return; a transfer
  tried meanwhile never reaches EIG, and PayFast's transfers go through afterwards.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest

from corridor.lab import remote
from corridor.net.pcapsummary import summarise
from tests.lab.rig import corridor
from tests.lab.vmrig import ALLOWED, DEMO_S, VMLab, vm_lab
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
    # On the router's end of PayFast's link: on the gateway's own end the kernel passes
    # each decrypted inbound packet back through the interface it came in on, so a capture
    # there shows those too, though they never crossed the wire in clear.
    port = next(ln.b_if for ln in lab.plan.links if ln.a == "payfast-gw" and ln.b == "net")
    tcpdump = lab.background(["ip", "netns", "exec", lab.ns("net"), "tcpdump", "-n", "-U",
                              "-i", port, "-w", str(pcap), "ip"], log)
    wait_for(lambda: "listening on" in _read(log), 300, 0.5, what="tcpdump listening")
    esp_before = lab.counter("vpn", "esp to payfast")

    started = time.monotonic()
    demo = corridor("lab", "demo", *lab.args(), timeout=DEMO_S)
    print(f"\njourney in {time.monotonic() - started:.1f}s\n{demo.stdout}")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "demo complete" in demo.stdout
    assert f"EIG sees the caller at {ALLOWED} " in " ".join(demo.stdout.split())

    lab.inside(["kill", "-INT", str(tcpdump)])
    wait_for(lambda: not lab.running(tcpdump), 120, 0.5, what="tcpdump to finish its file")
    seen = summarise(pcap)
    # Everything PayFast's gateway exchanged with the internet meanwhile: IKE and ESP, and
    # nothing else that carries data: no TCP (to EIG's port or any other), no other UDP.
    kinds = _kinds(pcap)
    assert seen.esp > 0 and seen.ike > 0, seen.as_dict()
    assert kinds["tcp"] == 0 and kinds["udp other"] == 0, (seen.as_dict(), kinds)
    print(f"PayFast's internet link during the journey: {seen.as_dict()}; {dict(kinds)}")
    # The kernel's and pluto's counters moved too.
    assert lab.counter("vpn", "esp to payfast") > esp_before
    tunnels = {t["partner"]: t for t in lab.status()["tunnels"]}  # one Python start
    payfast = tunnels["payfast"]
    assert payfast["state"] == "up" and payfast["bytes_in"] > 0 and payfast["bytes_out"] > 0
    assert tunnels["mobicash"]["bytes_out"] > 0  # the payout went through MobiCash's


_STRAY_CALL = """
import http.client, sys
from pathlib import Path
from corridor.site import load_site
from corridor.sim.identity import PartnerIdentity
site_dir, host, port, source = sys.argv[1:]
me = PartnerIdentity.of(load_site(Path(site_dir)), "payfast", "send")
conn = http.client.HTTPSConnection(host, int(port), source_address=(source, 0),
                                   context=me.client_tls(), timeout=120)
conn.request("GET", "/v1/transfers/none", headers={"Authorization": "Bearer " + me.api_key()})
answer = conn.getresponse()
print(answer.status, answer.read().decode())
"""


def test_a_sender_outside_payfast_allowlist_is_refused_and_audited(lab: VMLab) -> None:
    """From a host of PayFast's network inside its tunnel's subnet but outside its
    allowlist, with PayFast's certificate and API key: through the tunnel, then refused by
    EIG, which writes the refusal to its security audit log."""
    app = lab.plan.partners["payfast"].app
    stray = "10.20.1.77"
    assert lab.inside(["ip", "-n", lab.ns(app), "addr", "add", f"{stray}/32", "dev",
                       "lo"]).returncode == 0
    esp = lab.counter("vpn", "esp from payfast")
    face = str(lab.plan.partners["payfast"].face)
    done = lab.inside(["ip", "netns", "exec", lab.ns(app), *lab.python_argv(), "-c",
                       _STRAY_CALL, _lab_site(lab), face, str(lab.plan.ports["eig"]), stray],
                      timeout=DEMO_S)
    assert done.returncode == 0, done.stderr
    status, _, body = done.stdout.strip().partition(" ")
    assert status == "403" and json.loads(body)["code"] == "source_ip_not_allowed", body
    assert lab.counter("vpn", "esp from payfast") > esp  # it came through the tunnel
    audit = lab.inside(["cat", f"/run/corridor-lab/{lab.name}/hosts/eig/data/eig/"
                               "security-audit.jsonl"]).stdout
    refusals = [json.loads(ln) for ln in audit.splitlines() if ln.strip()]
    assert any(r["source_ip"] == stray and r["reason"] == "source_ip_not_allowed"
               for r in refusals), refusals


def test_a_second_lab_up_is_refused_in_one_line_and_the_lab_stays(lab: VMLab) -> None:
    done = corridor("lab", "up", "--site", lab.site, *lab.args(), timeout=DEMO_S)
    assert (done.returncode, done.stderr.splitlines()) == (1, [
        f"error: lab {lab.name} is already up (up, from {lab.site}); run `corridor lab down "
        f"--name {lab.name}` first"])
    assert remote.lab_vm(lab.name).status().running is lab.vm
    assert lab.tunnel("payfast")["state"] == "up"


def test_a_tunnel_cut_and_restored_is_recorded_and_transfers_resume(lab: VMLab) -> None:
    _fund(lab, "payfast")
    before = _send(lab, "payfast", 2, timeout=120)
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
        wait_for(lambda: [e for e in _events(tunnels_log, "payfast") if e["to"] == "up"],
                 300, 1, what="the monitor's first sample: PayFast's tunnel up")

        # UDP 500/4500 and ESP dropped on PayFast's internet link, both ways.
        gw = lab.ns("payfast-gw")
        cut = ("table inet lab_cut { chain wire_in { type filter hook prerouting priority -10; "
               "udp dport { 500, 4500 } drop; meta l4proto esp drop; }; "
               "chain wire_out { type filter hook postrouting priority -10; "
               "udp dport { 500, 4500 } drop; meta l4proto esp drop; }; }")
        done = lab.inside(["ip", "netns", "exec", gw, "nft", cut])
        assert done.returncode == 0, done.stderr
        # A transfer tried now never gets an answer: its TCP never reaches EIG.
        code, summary, _ = _send(lab, "payfast", 1, timeout=10)
        assert code != 0 and summary is not None and summary["statuses"] == {}, summary

        # Dead peer detection gives the peer up (about a minute), and the monitor sees it.
        wait_for(lambda: [e for e in _events(tunnels_log, "payfast") if e["to"] != "up"],
                 600, 1, what="the monitor's down transition")
        wait_for(lambda: "payfast" in _read(alerts), 120, 1, what="the alert")
        assert lab.inside(["ip", "netns", "exec", gw, "nft", "delete", "table", "inet",
                           "lab_cut"]).returncode == 0
        # Either end dials again (dpdaction=restart, auto=start) and the monitor sees it.
        down_at = len(_read(tunnels_log).splitlines())
        wait_for(lambda: [e for e in _events(tunnels_log, "payfast", skip=down_at)
                          if e["to"] == "up"], 600, 1, what="the monitor's up transition")
        metrics = lab.inside(["curl", "-s", "http://127.0.0.1:9108/metrics"]).stdout
        uptime = _metric(metrics, 'corridor_tunnel_uptime_ratio{partner="payfast"}')
        assert 0 < uptime < 1  # the downtime counted
        assert _metric(metrics, 'corridor_tunnel_transitions_total{partner="payfast"}') >= 2

        after = _send(lab, "payfast", 3, timeout=120)
        assert after[0] == 0 and after[1] is not None, after[2]
        assert after[1]["statuses"] == {"COMPLETED": 3} and after[1]["errors"] == {}
    finally:
        lab.inside(["kill", str(monitor)])


def _kinds(pcap: Path) -> collections.Counter[str]:
    """The packets of a capture by kind, for what corridor.net.pcapsummary does not name:
    TCP and UDP other than IKE's ports (cleartext data), ICMP, IP fragments after the
    first (no transport header of their own)."""
    kinds: collections.Counter[str] = collections.Counter()
    with pcap.open("rb") as f:
        reader = dpkt.pcap.UniversalReader(f)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB  # a veth: Ethernet frames
        for _ts, frame in reader:
            ip = dpkt.ethernet.Ethernet(frame).data
            if not isinstance(ip, dpkt.ip.IP):
                kinds["not ip"] += 1
            elif ip.offset:
                kinds[f"fragment of proto {ip.p}"] += 1
            elif ip.p == 50:
                kinds["esp"] += 1
            elif ip.p == 17:
                udp = ip.data
                ike = {500, 4500} & {getattr(udp, "sport", 0), getattr(udp, "dport", 0)}
                kinds["udp ike" if ike else "udp other"] += 1
            elif ip.p == 6:
                kinds["tcp"] += 1
                kinds[f"tcp {ip.data.sport} -> {ip.data.dport}"] += 1
            elif ip.p == 1:
                kinds[f"icmp type {getattr(ip.data, 'type', '?')}"] += 1
            else:
                kinds[f"proto {ip.p}"] += 1
    return kinds


def _events(log: Path, partner: str, skip: int = 0) -> list[dict[str, Any]]:
    """The monitor's transitions of `partner`'s tunnel, past the first `skip` lines."""
    lines = _read(log).splitlines()[skip:]
    events = [json.loads(ln) for ln in lines if ln.strip()]
    return [e for e in events if e["partner"] == partner]


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
