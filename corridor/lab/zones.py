"""The lab's nftables rules, from the plan's flows (pure: no I/O). Each is one table, `inet
corridor_lab`, replaced whole like the partner allowlist (`corridor.net.firewall`), which
the vpn host also loads:

- on the vpn host: each partner's face (DNAT of its EIG port to EIG, for traffic out of its
  tunnel only; SNAT of the hub's calls to the partner to the face, so that they enter its
  tunnel), the forward chain that admits the flows between segments and tunnels and drops
  and counts the rest, a guard that drops anything bound for a partner subnet that would
  leave in clear, and ESP packet counters per partner;
- on every other hub host: an input chain that admits the flows to that host only;
- on a partner's gateway: counters of what crosses its internet link (ESP, IKE, and TCP
  in clear, which should stay at zero for the tunnelled subnets).
"""

from __future__ import annotations

from corridor.lab.plan import Flow, Plan, V4Net

TABLE = "corridor_lab"
LOG = 'limit rate 10/minute burst 5 packets log prefix "corridor lab drop: " level info'


def _set(nets: tuple[V4Net, ...] | list[V4Net]) -> str:
    items = sorted({str(n).removesuffix("/32") for n in nets})
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _head() -> list[str]:
    return [f"table inet {TABLE} {{}}", f"delete table inet {TABLE}", f"table inet {TABLE} {{"]


def _chain(name: str, hook: str, rules: list[str]) -> list[str]:
    return [f"\tchain {name} {{", f"\t\t{hook}", *(f"\t\t{r}" for r in rules), "\t}"]


def _accept(f: Flow, tunnel_in: bool = False) -> str:
    ipsec = "meta ipsec exists " if tunnel_in else ""
    return (f"{ipsec}ip saddr {_set(f.src_nets)} ip daddr {f.dst_addr} tcp dport {f.port} "
            f'counter accept comment "{f.label}"')


def vpn_rules(plan: Plan) -> str:
    inside = [h.addresses[0].network for h in plan.hosts.values()
              if h.kind in ("hub", "desk") and h.name != plan.vpn]
    dnat, snat, forward, esp_in, esp_out = [], [], [], [], []
    partner_nets = [n for e in plan.partners.values() for n in e.partner_subnets]
    eig = next((f for f in plan.flows if f.dst == "eig"), None)
    for end in plan.partners.values():
        if eig is not None:
            dnat.append(f"meta ipsec exists ip saddr {_set(end.partner_subnets)} ip daddr "
                        f"{end.face} tcp dport {eig.port} counter dnat ip to "
                        f'{eig.dst_addr}:{eig.port} comment "{end.id} face -> eig"')
        snat.append(f"ip saddr {_set(inside)} ip daddr {_set(end.partner_subnets)} counter "
                    f'snat ip to {end.face} comment "hub -> {end.id} from its face"')
        esp_in.append(f'ip saddr {end.peer_ip} meta l4proto esp counter comment '
                      f'"esp from {end.id}"')
        esp_out.append(f'ip daddr {end.peer_ip} meta l4proto esp counter comment '
                       f'"esp to {end.id}"')
    for f in plan.flows:
        if f.dst == plan.vpn or f.src == plan.vpn:
            continue  # the vpn host's own doors are the partner allowlist's
        src_zone = plan.zone_of(f.src) if f.src in plan.hosts else None
        dst_zone = plan.zone_of(f.dst) if f.dst in plan.hosts else None
        if src_zone is not None and src_zone == dst_zone:
            continue  # same segment: bridged, never routed; the host's own rules guard it
        forward.append(_accept(f, tunnel_in=f.tunnel is not None and f.src == f.tunnel))
    forward = ["ct state established,related accept", "ct state invalid drop", *forward,
               LOG, 'counter drop comment "drop forward"']
    guard = [f'oifname "internet" ip daddr {_set(partner_nets)} rt ipsec missing counter drop '
             'comment "drop cleartext to partners"', *esp_out] if partner_nets else esp_out
    out = _head()
    out += _chain("faces_in", "type nat hook prerouting priority dstnat; policy accept;", dnat)
    out += _chain("faces_out", "type nat hook postrouting priority srcnat; policy accept;", snat)
    out += _chain("forward", "type filter hook forward priority filter; policy drop;", forward)
    out += _chain("esp_in", "type filter hook prerouting priority raw; policy accept;", esp_in)
    out += _chain("leaving", "type filter hook postrouting priority srcnat + 10; "
                             "policy accept;", guard)
    out.append("}")
    return "\n".join(out) + "\n"


def host_rules(plan: Plan, host: str) -> str:
    """A hub host's input chain: the flows to it, then drop and count the rest."""
    rules = ["iif lo accept", "ct state established,related accept", "ct state invalid drop"]
    rules += [_accept(f) for f in plan.flows if f.dst == host]
    rules += [LOG, 'counter drop comment "drop input"']
    out = _head()
    out += _chain("input", "type filter hook input priority filter; policy drop;", rules)
    out.append("}")
    return "\n".join(out) + "\n"


def gateway_rules() -> str:
    """Counters on a partner gateway's internet link (counting only: it is the partner's)."""
    leaving = ['oifname "internet" meta l4proto esp counter comment "esp out"',
               'oifname "internet" udp dport { 500, 4500 } counter comment "ike out"',
               'oifname "internet" meta l4proto tcp rt ipsec missing counter '
               'comment "cleartext tcp out"']
    arriving = ['iifname "internet" meta l4proto esp counter comment "esp in"',
                'iifname "internet" meta l4proto tcp meta ipsec missing counter '
                'comment "cleartext tcp in"']
    out = _head()
    out += _chain("leaving", "type filter hook postrouting priority srcnat + 10; "
                             "policy accept;", leaving)
    out += _chain("arriving", "type filter hook prerouting priority raw; policy accept;",
                  arriving)
    out.append("}")
    return "\n".join(out) + "\n"
