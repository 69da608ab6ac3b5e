"""Partner traffic through real IPsec (ESP) tunnels, and the hub operated across the lab's
hosts, in the lab as `corridor lab up` builds it on this machine: inside the lab VM where
this kernel has no ESP (one VM boot, one lab and one journey for the module), directly
where it has.

- the journey (`corridor lab demo`) crosses the tunnels, and PayFast's internet link
  carries only IKE and ESP meanwhile (a capture summarised by corridor.net.pcapsummary);
- `corridor trace` merges what the lab's hosts recorded of that journey (EIG's host and
  TXN's each keep their own data directory): the EIG request from the address PayFast's
  application has inside its tunnel, the payout to MobiCash, MobiCash's receiver
  callback and the sender callback to PayFast;
- `corridor capture`, run meanwhile: outside PayFast's tunnel on the vpn host it holds
  IKE and ESP with PayFast's peer address; inside it, on EIG's host, PayFast's
  application's TCP to EIG's port; the summaries' numbers agree with the packets;
- a sender inside PayFast's tunnel but outside its allowlist is refused by EIG and
  audited; a second `lab up` is refused in one line;
- `corridor partner onboard` applied to the lab's vpn host: the new partner's conn loaded
  in its pluto and its allowlist in its nftables;
- `corridor partner offboard` of KenPay, the lab's second Kenyan receive partner, which
  payouts reach only when MobiCash is out of rotation (never in this module), applied to
  the vpn host and the lab's site: its tunnel goes from the vpn host's pluto and from its
  gateway, its allowlist from the vpn host's nftables, its application no longer reaches
  EIG, EIG refuses its certificate and its API key (seen through MobiCash's tunnel, a way
  to EIG still open), each refusal and the offboarding audited;
- PayFast's tunnel cut on its link and restored: `corridor vpn monitor` records the down
  transition, runs its alert, counts the downtime and records the return; a transfer
  tried meanwhile never reaches EIG, and PayFast's transfers go through afterwards.
"""


from __future__ import annotations

import collections
import json
import re
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt
import pytest

from corridor.lab import remote
from corridor.net import status
from corridor.net.pcapsummary import summarise
from tests.lab.rig import corridor
from tests.lab.vmrig import ALLOWED, DEMO_S, VMLab, vm_lab
from tests.support import wait_for

pytestmark = pytest.mark.timeout(1800)

NEWCOMER = "zamzam"  # onboarded into the running lab
LEAVER = "kenpay"  # offboarded from it


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VMLab]:
    with vm_lab(tmp_path_factory.mktemp("lab"), "esp") as built:
        yield built


def _eig_url(lab: VMLab, partner: str) -> str:
    return f"https://{lab.plan.partners[partner].face}:{lab.plan.ports['eig']}"


def _fund(lab: VMLab, partner: str) -> None:
    funded = lab.corridor("ledger", "fund", partner, "1000000.00", "--reference",
                          f"LABTEST-{time.time_ns()}", "--site", _site(lab), "--data",
                          f"/run/corridor-lab/{lab.name}/hosts/txn/data", ns="txn")
    assert funded.returncode == 0, funded.stderr


def _send(lab: VMLab, partner: str, count: int, timeout: float = 60,
          ) -> tuple[int, dict[str, Any] | None, str]:
    """`corridor sim send-partner send` from the partner's application host, through its
    tunnel: its exit code, its JSON summary (None when it printed none) and stderr."""
    done = lab.corridor("sim", "send-partner", "--site", _site(lab), "--partner",
                        partner, "--eig", _eig_url(lab, partner), "send", "--count",
                        str(count), "--concurrency", "4", "--poll", "--timeout", str(timeout),
                        ns=lab.plan.partners[partner].app, timeout=DEMO_S)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    return done.returncode, (json.loads(lines[-1]) if lines else None), done.stderr


def _lab_dir(lab: VMLab) -> str:
    return f"/run/corridor-lab/{lab.name}"


def _site(lab: VMLab) -> str:
    return f"{_lab_dir(lab)}/site"


def _data(lab: VMLab, host: str) -> str:
    return f"{_lab_dir(lab)}/hosts/{host}/data"


def _pluto(lab: VMLab, host: str) -> str:
    return f"{_lab_dir(lab)}/hosts/{host}/pluto"


def _perimeter(lab: VMLab) -> list[str]:
    """The options that point a partner command at the lab's vpn host."""
    return ["--netns", lab.ns("vpn"), "--ipsec-dir", f"{_pluto(lab, 'vpn')}/ipsec.d",
            "--ctlsocket", f"{_pluto(lab, 'vpn')}/run/pluto.ctl"]


@dataclass
class Journey:
    demo: str  # `corridor lab demo`'s output
    transfer_id: str
    trace_id: str
    outer: dict[str, Any]  # `corridor capture --json` summaries
    inner: dict[str, Any]
    esp_counted: int  # ESP packets the vpn host's counters saw for PayFast meanwhile
    wire: Path  # PayFast's internet link meanwhile, captured on the router's end
    status: dict[str, Any]  # `corridor lab status --json` once the journey was over


@pytest.fixture(scope="module")
def journey(lab: VMLab) -> Journey:
    """The lab demo's journey, with three captures of PayFast's packets running meanwhile:
    its own internet link (tcpdump), outside its tunnel on the vpn host's internet link
    and inside it on EIG's host (`corridor capture`)."""
    shared = lab.shared
    captures = {
        "outer": ["--outer", "--netns", lab.ns("vpn"), "--interface", "internet"],
        "inner": ["--inner", "--netns", lab.ns("eig"), "--interface", "eth0"],
    }
    pids = {}
    for side, where in captures.items():
        # --seconds bounds a capture left behind; each ends when the journey has.
        pids[side] = lab.background(lab.corridor_argv(
            "capture", "payfast", *where, "--seconds", "900", "--write",
            str(shared / f"{side}.pcap"), "--json", "--site", _site(lab)),
            shared / f"{side}.out")
    # On the router's end of PayFast's link: on the gateway's own end the kernel passes
    # each decrypted inbound packet back through the interface it came in on, so a capture
    # there shows those too, though they never crossed the wire in clear.
    port = next(ln.b_if for ln in lab.plan.links if ln.a == "payfast-gw" and ln.b == "net")
    pids["wire"] = lab.background(["ip", "netns", "exec", lab.ns("net"), "tcpdump", "-n",
                                   "-U", "-i", port, "-w", str(shared / "wire.pcap"), "ip"],
                                  shared / "wire.out")
    for side in pids:
        out = shared / f"{side}.out"
        wait_for(lambda: "listening on" in _read(out), 300, 0.5,  # noqa: B023 (waited here)
                 what=f"the {side} capture listening")
    esp_before = _esp(lab)

    started = time.monotonic()
    demo = corridor("lab", "demo", *lab.args(), timeout=DEMO_S)
    print(f"\njourney in {time.monotonic() - started:.1f}s\n{demo.stdout}")
    assert demo.returncode == 0, demo.stdout + demo.stderr
    created = re.search(r"POST /v1/transfers -> (\S+) ACCEPTED \(trace ([0-9a-f]{32})\)",
                        demo.stdout)
    assert created is not None, demo.stdout

    # Ended as a Ctrl-C ends them: tcpdump writes out its file and the summary follows.
    assert lab.inside(["kill", "-TERM", *map(str, pids.values())]).returncode == 0
    for side, pid in pids.items():
        wait_for(lambda: not lab.running(pid), 300, 0.5,  # noqa: B023 (waited here)
                 what=f"the {side} capture")
    esp = _esp(lab) - esp_before
    found = {side: _summary(shared / f"{side}.out") for side in captures}
    print(f"captures: {found}; ESP counted on the vpn host meanwhile: {esp}")
    return Journey(demo.stdout, created[1], created[2], found["outer"], found["inner"], esp,
                   shared / "wire.pcap", lab.status())


def test_the_journey_crosses_the_tunnels_and_payfast_link_carries_only_ike_and_esp(
        lab: VMLab, journey: Journey) -> None:
    assert "demo complete" in journey.demo
    assert f"EIG sees the caller at {ALLOWED} " in " ".join(journey.demo.split())
    seen = summarise(journey.wire)
    # Everything PayFast's gateway exchanged with the internet meanwhile: IKE and ESP, and
    # nothing else that carries data: no TCP (to EIG's port or any other), no other UDP.
    kinds = _kinds(journey.wire)
    assert seen.esp > 0 and seen.ike > 0, seen.as_dict()
    assert kinds["tcp"] == 0 and kinds["udp other"] == 0, (seen.as_dict(), kinds)
    print(f"PayFast's internet link during the journey: {seen.as_dict()}; {dict(kinds)}")
    # The kernel's and pluto's counters moved too.
    assert journey.esp_counted > 0
    tunnels = {t["partner"]: t for t in journey.status["tunnels"]}
    payfast = tunnels["payfast"]
    assert payfast["state"] == "up" and payfast["bytes_in"] > 0 and payfast["bytes_out"] > 0
    assert tunnels["mobicash"]["bytes_out"] > 0  # the payout went through MobiCash's


def test_trace_shows_the_journey_from_each_hosts_records(lab: VMLab, journey: Journey,
                                                         ) -> None:
    tid, spans = journey.transfer_id, {h: f"{_data(lab, h)}/{h}/spans.jsonl"
                                       for h in ("eig", "txn")}
    # Each host writes its spans in batches: the journey's last hop, the sender callback,
    # is on TXN's host; MobiCash's receiver callback came in at EIG's.
    look = (f"grep -h {journey.trace_id} {spans['txn']} | grep -c 'txn sender_callback'; "
            f"grep -h {journey.trace_id} {spans['eig']} | grep -c 'eig receiver_callback'")
    wait_for(lambda: [int(n) > 0 for n in lab.inside(["sh", "-c", look]).stdout.split()]
             == [True, True], 120, 1, what="both hosts' spans of the journey")

    done = lab.corridor("trace", tid, "--json", "--site", _site(lab), "--data",
                        _data(lab, "txn"), "--from", _data(lab, "eig"))
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    steps: list[dict[str, Any]] = got["steps"]
    whats = [s["what"] for s in steps]
    print("\n".join(f"{s['hop']:<8} {s['what']}" for s in steps))
    assert got["transfer"]["status"] == "COMPLETED"

    def at(text: str) -> int:
        found = [i for i, w in enumerate(whats) if text in w]
        assert found, f"no step with {text!r}: {whats}"
        return found[0]

    mobicash = lab.plan.partners["mobicash"]
    created = steps[at("create_transfer from ")]
    # EIG saw PayFast's application at its address inside the tunnel, not its gateway's.
    assert created["hop"] == "EIG" and f"create_transfer from {ALLOWED}, " in created["what"]
    assert created["attributes"]["client.address"] == ALLOWED
    assert created["attributes"]["corridor.partner"] == "payfast"
    assert "ms of it in EIG" in created["what"]
    payout = steps[at(f"POST /v1/payouts to https://{mobicash.app_addr}:")]
    assert payout["hop"] == "TXN" and "HTTP 201" in payout["what"]
    callback = steps[at(f"receiver_callback from {mobicash.app_addr}, ")]
    assert callback["hop"] == "EIG" and "HTTP 200" in callback["what"]
    told = steps[at("sender callback to payfast (attempt")]
    assert told["hop"] == "TXN" and "delivered, HTTP 200" in told["what"]
    order = [at("create_transfer from "), at("txn POST /internal/v1/transfers"),
             at("payout to mobicash (claim"), at("POST /v1/payouts to https://"),
             at("receiver_callback from "), at("txn POST /internal/v1/callbacks/receiver"),
             at("sender callback to payfast (attempt")]
    assert order == sorted(order), whats
    assert all(s["after_s"] >= 0 for s in steps[1:])


def test_capture_sees_payfast_outside_and_inside_its_tunnel(lab: VMLab, journey: Journey,
                                                            ) -> None:
    payfast = lab.plan.partners["payfast"]
    outer, inner = journey.outer, journey.inner
    # Outside: IKE and ESP with PayFast's peer address, nothing else; every ESP packet the
    # capture holds is one the vpn host's counters saw (they ran a little longer).
    assert f"host {payfast.peer_ip} " in outer["filter"]
    assert outer["esp"] > 0, outer
    assert outer["packets"] == outer["esp"] + outer["ike"], outer
    assert outer["esp"] <= journey.esp_counted, (outer, journey.esp_counted)
    assert outer["tcp_resets"] == outer["tls_alerts"] == 0
    assert summarise(Path(outer["file"])).as_dict() == {k: outer[k] for k in (
        "packets", "bytes", "tcp_resets", "tls_alerts", "ike", "esp")}

    # Inside, on EIG's host: PayFast's application's TCP to and from EIG's port, in clear
    # there (the tunnel ended at the vpn host), and nothing of IKE or ESP.
    eig, port = lab.plan.hosts["eig"].address, lab.plan.ports["eig"]
    assert f"tcp port {port} and " in inner["filter"] and f"net {ALLOWED}/32" in inner["filter"]
    assert inner["esp"] == inner["ike"] == 0, inner
    flows, size, syns = _tcp(Path(inner["file"]))
    assert set(flows) == {(ALLOWED, str(eig), port)}, flows
    assert syns > 0  # the application's connections, opened through the tunnel
    assert (inner["packets"], inner["bytes"]) == (sum(flows.values()), size), inner


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
                       _STRAY_CALL, _site(lab), face, str(lab.plan.ports["eig"]), stray],
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


def test_onboarding_into_the_running_lab_loads_its_tunnel_and_allowlist(lab: VMLab) -> None:
    kit = f"{_lab_dir(lab)}/{NEWCOMER}-kit"
    started = time.monotonic()
    done = lab.corridor(
        "partner", "onboard", NEWCOMER, "--name", "ZamZam Pay", "--country", "IN", "--role",
        "send", "--currency", "INR", "--allowed-ip", "10.60.1.2/32", "--callback-url",
        "https://10.60.1.2:9101/cb", "--peer-ip", "198.51.100.60", "--partner-subnet",
        "10.60.1.0/24", "--hub-subnet", "10.99.6.0/24", "--site", _site(lab), "--data",
        _data(lab, "txn"), "--kit", kit, *_perimeter(lab))
    print(f"\nonboarded in {time.monotonic() - started:.1f}s:\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"firewall: netns {lab.ns('vpn')}: applied" in done.stdout, done.stdout
    assert f"{NEWCOMER}.conf, {NEWCOMER}.secrets; loaded in pluto" in done.stdout, done.stdout
    vpn = _vpn_host(lab)
    assert vpn.tunnels[NEWCOMER].loaded and vpn.tunnels["payfast"].state == "up"
    assert f'"eig {NEWCOMER}"' in vpn.ruleset and "10.60.1.2" in vpn.ruleset


def test_offboarding_shuts_every_door_of_a_lab_partner(lab: VMLab) -> None:
    kenpay, mobicash = lab.plan.partners[LEAVER], lab.plan.partners["mobicash"]
    keys = json.loads(lab.inside(["cat", f"{_site(lab)}/secrets/demo-keys.json"]).stdout)
    # What KenPay holds, kept aside: offboarding deletes the key pair the hub made for it.
    held = f"{_lab_dir(lab)}/{LEAVER}-held"
    pki = f"{_site(lab)}/pki/partners"
    assert lab.inside(["sh", "-c", f"mkdir -p {held} && cp {pki}/{LEAVER}.crt "
                                   f"{pki}/{LEAVER}.key {held}/"]).returncode == 0
    calls = [
        # From KenPay's application through its own tunnel, as KenPay.
        _Call("own", kenpay.app, kenpay, f"{held}/{LEAVER}", keys[LEAVER]),
        # Through MobiCash's tunnel: KenPay's certificate; MobiCash's with KenPay's key.
        _Call("cert", mobicash.app, mobicash, f"{held}/{LEAVER}", keys[LEAVER]),
        _Call("key", mobicash.app, mobicash, f"{pki}/mobicash", keys[LEAVER]),
    ]
    before = _doors(lab, calls)
    assert before["own"].status > 0, before  # answered by EIG
    assert before["cert"].code == "source_ip_not_allowed", before
    assert before["key"].code == "api_key_wrong_partner", before
    assert _vpn_host(lab).tunnels[LEAVER].state == "up"

    started = time.monotonic()
    done = lab.corridor("partner", "offboard", LEAVER, "--site", _site(lab), "--data",
                        _data(lab, "txn"), *_perimeter(lab))
    print(f"\noffboarded in {time.monotonic() - started:.1f}s:\n{done.stdout}{done.stderr}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"offboarded {LEAVER} (certificate serial " in done.stdout, done.stdout
    assert f"firewall: netns {lab.ns('vpn')}: applied" in done.stdout, done.stdout
    assert f"-{LEAVER}.conf" in done.stdout and "loaded in pluto" in done.stdout, done.stdout

    # The vpn host: no tunnel, no conn file, no allowlist; the others' stay.
    vpn = _vpn_host(lab)
    assert not vpn.tunnels[LEAVER].loaded and vpn.tunnels[LEAVER].ike_sa is None
    assert vpn.tunnels["mobicash"].state == "up" and vpn.tunnels["payfast"].state == "up"
    assert LEAVER not in vpn.ruleset and '"eig mobicash"' in vpn.ruleset
    assert not [f for f in vpn.conns if f.startswith(f"{LEAVER}.")], vpn.conns

    # Every door, from the partner's side: EIG follows the site (the key hash and the CRL
    # are reloaded each on its own), the tunnel is gone from KenPay's gateway too.
    def shut() -> dict[str, _Answer] | None:
        after = _doors(lab, calls)
        return after if (after["own"].status == 0 and after["cert"].status == 0
                         and after["key"].code == "api_key_invalid") else None

    started = time.monotonic()
    after = wait_for(shut, 120, 1, what="every door shut")
    assert after is not None
    print(f"every door shut {time.monotonic() - started:.1f}s later: {after}")
    assert after["own"].curl in (7, 28), after  # no connection: no tunnel, no way in
    assert after["cert"].curl in (35, 56), after  # a TLS refusal
    hub_id = _hub_id(lab)
    gw = status.parse(_whack(lab, kenpay.gateway), [hub_id])[hub_id]
    assert gw.ike_sa is None and gw.ipsec_sa is None, gw

    # Audited: EIG's refusals, the offboarding and the perimeter it applied.
    records = lab.inside(["sh", "-c", f"cat {_data(lab, 'eig')}/eig/security-audit.jsonl; "
                                      f"echo; cat {_data(lab, 'txn')}/partners/log.jsonl"])
    lines = [json.loads(ln) for ln in records.stdout.splitlines() if ln.startswith("{")]
    assert any(r.get("reason") == "certificate_revoked" and r.get("partner_claimed") == LEAVER
               and r.get("source_ip") == str(mobicash.app_addr) for r in lines), lines
    assert any(r.get("reason") == "api_key_invalid"
               and r.get("source_ip") == str(mobicash.app_addr) for r in lines), lines
    offboarded = [r for r in lines if r.get("action") == "offboard"]
    assert [r["partner"] for r in offboarded] == [LEAVER] and offboarded[0]["serial"]
    assert any("firewall" in p and "applied" in p for p in offboarded[0]["perimeter"])
    assert keys[LEAVER] not in records.stdout


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
        lab.corridor_argv("vpn", "monitor", "--site", _site(lab), "--data",
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


# ---------------------------------------------------------------- helpers


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


@dataclass
class _Call:
    label: str
    host: str  # the lab host it is made from
    via: Any  # the PartnerEnd whose face (EIG's address through its tunnel) it calls
    cert: str  # path without .crt/.key
    key: str


@dataclass
class _Answer:
    status: int  # HTTP status; 0: no answer
    curl: int  # curl's exit code
    code: str | None  # the problem+json code


def _doors(lab: VMLab, calls: list[_Call]) -> dict[str, _Answer]:
    """Each call, GET /v1/transfers at EIG with curl, all in one command in the lab."""
    port, ca = lab.plan.ports["eig"], f"{_site(lab)}/pki/hub-ca.crt"
    script = ["body=$(mktemp)"]
    for c in calls:
        curl = shlex.join([
            "ip", "netns", "exec", lab.ns(c.host), "curl", "-s", "--connect-timeout", "5",
            "--max-time", "60", "--cacert", ca, "--cert", f"{c.cert}.crt", "--key",
            f"{c.cert}.key", "-H", f"Authorization: Bearer {c.key}", "-o", "$BODY", "-w",
            "%{http_code}", f"https://{c.via.face}:{port}/v1/transfers"]).replace(
                "'$BODY'", '"$body"')
        script.append(f': >"$body"; code=$({curl}); rc=$?; '
                      f'printf "%s\\t%s\\t%s\\t%s\\n" {c.label} "$code" "$rc" '
                      f'"$(tr -d "\\n\\t" <"$body")"')
    done = lab.inside(["sh", "-c", "\n".join(script)])
    found = {}
    for line in done.stdout.splitlines():
        label, code, rc, body = (line.split("\t") + [""] * 4)[:4]
        problem = json.loads(body) if body.startswith("{") else {}
        found[label] = _Answer(int(code or 0), int(rc), problem.get("code"))
    assert set(found) == {c.label for c in calls}, done.stdout + done.stderr
    return found


@dataclass
class _VpnHost:
    tunnels: dict[str, status.TunnelStatus]
    ruleset: str
    conns: list[str]


def _vpn_host(lab: VMLab) -> _VpnHost:
    """The vpn host's pluto, allowlist and conn files, read in one command."""
    sep = "=====corridor-test====="
    done = lab.inside(["sh", "-c", "; ".join([
        _whack_sh(lab, "vpn"), f"echo {sep}",
        f"ip netns exec {lab.ns('vpn')} nft list table inet corridor", f"echo {sep}",
        f"ls {_pluto(lab, 'vpn')}/ipsec.d"])])
    pluto, ruleset, conns = done.stdout.split(sep + "\n")
    names = [*lab.plan.partners, NEWCOMER]
    return _VpnHost(status.parse(pluto, names), ruleset, conns.split())


def _whack_sh(lab: VMLab, host: str) -> str:
    ctl = f"{_pluto(lab, host)}/run/pluto.ctl"
    return "; ".join(f"ipsec whack --ctlsocket {ctl} {flag}"
                     for flag in ("--status", "--trafficstatus"))


def _whack(lab: VMLab, host: str) -> str:
    return lab.inside(["sh", "-c", _whack_sh(lab, host)]).stdout


def _hub_id(lab: VMLab) -> str:
    from corridor.site import load_site

    return load_site(lab.site).hub.id


def _esp(lab: VMLab) -> int:
    counted = lab.counters("vpn")
    return counted.get("esp to payfast", 0) + counted.get("esp from payfast", 0)


def _summary(out: Path) -> dict[str, Any]:
    lines = [ln for ln in _read(out).splitlines() if ln.startswith("{")]
    assert lines, _read(out)
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def _tcp(pcap: Path) -> tuple[dict[tuple[str, str, int], int], int, int]:
    """The TCP packets of an Ethernet capture by (client, server, server port), counted
    both ways; their IP bytes; and the SYNs that opened connections."""
    flows: dict[tuple[str, str, int], int] = {}
    size = syns = 0
    with pcap.open("rb") as f:
        for _ts, frame in dpkt.pcap.UniversalReader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            assert isinstance(ip, dpkt.ip.IP) and isinstance(ip.data, dpkt.tcp.TCP)
            tcp, src, dst = ip.data, _addr(ip.src), _addr(ip.dst)
            size += ip.len
            key = (src, dst, tcp.dport) if src == ALLOWED else (dst, src, tcp.sport)
            flows[key] = flows.get(key, 0) + 1
            syns += bool(tcp.flags & dpkt.tcp.TH_SYN and not tcp.flags & dpkt.tcp.TH_ACK)
    return flows, size, syns


def _addr(raw: bytes) -> str:
    import ipaddress

    return str(ipaddress.ip_address(raw))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
