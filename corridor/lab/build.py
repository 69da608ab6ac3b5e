"""Making the plan's hosts and links with iproute2, and removing everything a lab made.

Every namespace is created by name `<lab>-<host>`; veth pairs are created directly inside
their two namespaces (`ip -n A link add ... peer ... netns B`) and bridges inside the
router that owns them, so nothing of the lab ever exists in this machine's own namespace:
deleting the namespaces removes every interface, address and route with them.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from corridor.lab import netns
from corridor.lab.errors import LabError
from corridor.lab.plan import Bridge, Host, Link, Plan
from corridor.lab.procs import TOOL_S
from corridor.lab.state import State, alive, namespace
from corridor.net.errors import NetError
from corridor.net.runner import run

T = TypeVar("T")
R = TypeVar("R")


def ip_batch(ns: str | None, lines: list[str]) -> None:
    """Several `ip` commands in one process, in namespace `ns` (None: this process's),
    stopping at the first that fails."""
    if not lines:
        return
    where = ["-n", ns] if ns else []
    proc = subprocess.run(["ip", *where, "-batch", "-"], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=TOOL_S, check=False)
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()
        raise NetError(f"ip{f' in {ns}' if ns else ''}: {why[0] if why else 'failed'}")


def machine_addresses() -> list[ipaddress.IPv4Interface]:
    """This machine's own IPv4 addresses (in the namespace the builder runs in)."""
    out = run(["ip", "-j", "-4", "addr", "show"]).stdout
    return [ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}")
            for link in json.loads(out) for a in link.get("addr_info", [])]


def side_by_side(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`fn` on the items, as many at once as there are CPUs (each mostly runs a tool; more
    at once only makes each slower, past the tools' own timeouts under an emulated VM);
    the results in order, or the first failure raised."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return [future.result() for future in [pool.submit(fn, item) for item in items]]


def make_hosts(plan: Plan, state: State) -> None:
    def make(host: Host) -> None:
        _sysctls(state.ns(host.name), host)

    def bridge(b: Bridge) -> None:
        lines = [f"link add name {b.name} type bridge",
                 *(f"addr add {a} dev {b.name}" for a in b.addresses), f"link set {b.name} up"]
        ip_batch(state.ns(b.host), lines)

    def address(host: Host) -> None:
        lines = [f"addr add {ip}/32 dev lo" for ip in host.loopback]
        for r in host.routes:
            src = f" src {r.src}" if r.src else ""
            lines.append(f"route add {r.dest} via {r.via}{src}")
        ip_batch(state.ns(host.name), lines)

    spaces = [state.ns(h) for h in plan.hosts]
    for ns in spaces:
        state.made_namespace(ns)
    ip_batch(None, [f"netns add {ns}" for ns in spaces])  # one process for them all
    side_by_side(make, plan.hosts.values())
    side_by_side(bridge, plan.bridges)
    side_by_side(lambda link: _link(link, state), plan.links)
    side_by_side(address, plan.hosts.values())


def _link(link: Link, state: State) -> None:
    a, b = state.ns(link.a), state.ns(link.b)
    ip_batch(a, [f"link add name {link.a_if} type veth peer name {link.b_if} netns {b}"])
    a_lines = [f"link set {link.a_if} up"]
    if link.a_addr is not None:
        a_lines.insert(0, f"addr add {link.a_addr} dev {link.a_if}")
    ip_batch(a, a_lines)
    b_lines = [f"link set {link.b_if} up"]
    if link.b_bridge is not None:
        b_lines.insert(0, f"link set {link.b_if} master {link.b_bridge}")
    elif link.b_addr is not None:
        b_lines.insert(0, f"addr add {link.b_addr} dev {link.b_if}")
    ip_batch(b, b_lines)


def _sysctls(ns: str, host: Host) -> None:
    # Loose reverse-path checks: a gateway receives decrypted packets from subnets that its
    # routing table reaches through the tunnel, not through the interface they came in on.
    values = ["net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
              "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
              f"net.ipv4.ip_forward={int(host.forwards)}",
              "net.ipv4.conf.all.send_redirects=0", "net.ipv4.conf.default.send_redirects=0",
              # Frames bridged inside a segment are not routed: when br_netfilter is loaded
              # it would hand them to the vpn host's forward chain. Each host's own rules
              # guard its segment instead. (-e: absent without br_netfilter.)
              "net.bridge.bridge-nf-call-iptables=0", "net.bridge.bridge-nf-call-arptables=0"]
    # sysctl started from a thread inside the namespace writes that namespace's keys, with
    # no `ip netns exec` (a mount namespace and a sysfs remount each) around it.
    netns.run_in(ns, functools.partial(run, timeout=TOOL_S),
                 ["sysctl", "-e", "-q", "-w", *values])
    ip_batch(ns, ["link set lo up"])


def lab_namespaces(name: str) -> list[str]:
    """The namespaces on this machine that belong to lab `name`."""
    prefix = namespace(name, "")
    return [ns for ns in netns.listed() if ns.startswith(prefix)]


def ns_pids(ns: str) -> list[int]:
    proc = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True,
                          timeout=30, check=False)
    return [int(x) for x in proc.stdout.split() if x.isdigit()]


def stop_processes(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL to whatever still runs after `grace` seconds."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        if alive(pid):
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def teardown(name: str, state: State | None, lab_root: Path) -> list[str]:
    """Remove lab `name`: every process inside its namespaces (the recorded ones and any
    other), the namespaces, and its directory. Safe to run on nothing or half of a lab.
    Returns what was removed, one line each."""
    done: list[str] = []
    spaces = sorted(set(lab_namespaces(name)) |
                    {ns for ns in (state.namespaces if state else []) if netns.exists(ns)})
    pids = {p.pid for p in (state.processes if state else []) if alive(p.pid)}
    for ns in spaces:
        pids.update(ns_pids(ns))
    if state is not None and state.builder not in (0, os.getpid()) and alive(state.builder):
        pids.add(state.builder)  # a builder still at work would make more
    if pids:
        stop_processes(sorted(pids))
        done.append(f"stopped {len(pids)} process(es)")
    for ns in spaces:
        proc = subprocess.run(["ip", "netns", "del", ns], capture_output=True, text=True,
                              timeout=30, check=False)
        if proc.returncode != 0 and netns.exists(ns):
            raise LabError(f"cannot delete namespace {ns}: {proc.stderr.strip()}")
    if spaces:
        done.append(f"deleted {len(spaces)} namespace(s)")
    if lab_root.exists():
        shutil.rmtree(lab_root)
        done.append(f"removed {lab_root}")
    return done
