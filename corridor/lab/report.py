"""`corridor lab status`: each host with its addresses and servers, the tunnels as the vpn
host's pluto sees them (`corridor vpn status`'s parser), and every firewall counter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from corridor.lab import netns, state, tunnels
from corridor.lab.errors import LabError
from corridor.lab.plan import Plan, plan
from corridor.net import nft
from corridor.net.errors import NetError
from corridor.net.firewall import TABLE as ALLOWLIST
from corridor.site import Site, load_site

LAB_TABLE = "corridor_lab"


def gather(root: Path, name: str) -> dict[str, Any]:
    st = state.load(root, name)
    if st is None:
        raise LabError(f"no lab {name} is up (nothing at {state.lab_dir(root, name)}); "
                       "run `corridor lab up`")
    site = load_site(st.dir / "site")
    the_plan = plan(site)
    hosts = []
    for host in the_plan.hosts.values():
        ns = st.ns(host.name)
        procs = [{"what": p.what, "pid": p.pid, "running": state.alive(p.pid)}
                 for p in st.processes if p.host == host.name]
        hosts.append({"host": host.name, "namespace": ns, "kind": host.kind,
                      "zone": host.zone, "present": netns.exists(ns),
                      "addresses": [str(a) for a in host.addresses]
                      + [f"{ip}/32" for ip in host.loopback], "servers": procs})
    return {"name": name, "phase": st.phase, "site": st.site, "esp": st.esp,
            "hosts": hosts, "tunnels": tunnel_states(site, st, the_plan),
            "firewall": counters(st, the_plan)}


def tunnel_states(site: Site, st: state.State, the_plan: Plan) -> list[dict[str, object]]:
    """Each tunnel as the vpn host's pluto sees it, with what the partner's gateway says."""
    found = []
    for hub, gw in tunnels.ends(site, the_plan, st).values():
        found.append({**hub.as_dict(), "gateway_state": gw.state, "gateway_label": gw.label})
    return found


def counters(st: state.State, the_plan: Plan) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for host in the_plan.hosts.values():
        tables = [ALLOWLIST, LAB_TABLE] if host.name == the_plan.vpn else [LAB_TABLE]
        rows = []
        for table in tables:
            if host.kind not in ("hub", "gateway") or not netns.exists(st.ns(host.name)):
                continue
            try:
                found = nft.counters(st.ns(host.name), table)
            except NetError:
                continue  # the table is not loaded (a half-built lab)
            rows += [{"table": table, "rule": c.rule, "packets": c.packets, "bytes": c.bytes}
                     for c in found]
        if rows:
            out[host.name] = rows
    return out


def counter(found: dict[str, Any], host: str, rule: str) -> int:
    """Packets of one counted rule (by its comment) on one host; 0 when absent."""
    return sum(int(r["packets"]) for r in found["firewall"].get(host, []) if r["rule"] == rule)


def show(found: dict[str, Any]) -> None:
    esp = {True: "yes", False: "no", None: "not checked"}[found["esp"]]
    click.echo(f"lab {found['name']} ({found['phase']}) from {found['site']}; "
               f"kernel carries ESP: {esp}")
    click.echo("\nhosts")
    for h in found["hosts"]:
        servers = ", ".join(f"{s['what']}{'' if s['running'] else ' (stopped)'}"
                            for s in h["servers"]) or "-"
        missing = "" if h["present"] else "  MISSING"
        click.echo(f"  {h['host']:<14} {h['zone']:<18} {' '.join(h['addresses']):<40} "
                   f"{servers}{missing}")
    click.echo("\ntunnels (vpn host's pluto)")
    for t in found["tunnels"]:
        ike = f"#{t['ike_sa']}" if t["ike_sa"] is not None else "-"
        ipsec = f"#{t['ipsec_sa']}" if t["ipsec_sa"] is not None else "-"
        gateway = "" if t["gateway_state"] == t["state"] else \
            f" (its gateway: {t['gateway_label']})"
        click.echo(f"  {t['partner']:<14} IKE {ike:<6} IPsec {ipsec:<6} in {t['bytes_in']:>9} "
                   f"out {t['bytes_out']:>9}  {t['label']}{gateway}")
    click.echo("\nfirewall counters (packets)")
    for host, rows in found["firewall"].items():
        for r in rows:
            click.echo(f"  {host:<14} {r['table']:<13} {r['rule']:<36} {r['packets']:>8}")
