"""The nftables allowlist, generated from the site (pure: no I/O).

Corridor owns one table (`inet corridor`) and replaces it whole in one transaction; it
never flushes the ruleset, so other tools' tables survive. Inside the table:

- a named interval set per partner and address family with its `allowed_ips`, and a
  counted accept rule per set to the EIG port (so `firewall show` counts per partner);
- a set of tunnel peers admitted to IKE (UDP 500/4500) and ESP;
- a set with the jump server's address admitted to SSH on the managed hosts' ports;
- for each guarded port, a rate-limited log line and a counted drop for everyone else;
  the dropped packets are also counted per source address in two dynamic sets
  (`dropped_v4`, `dropped_v6`: an element per source, forgotten after an hour of quiet),
  which `corridor firewall metrics` exports so that one source's spike can page.

Traffic to other ports is left alone (policy accept): this table guards the perimeter's
own doors, it is not the host's whole firewall.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from corridor.site.model import IPNetwork, Site

TABLE = "corridor"
IKE_PORTS = (500, 4500)
LOG_RATE = "10/minute burst 5 packets"
# Sets the kernel fills as packets are dropped, not from the site: drift leaves them out.
DROPPED_SETS = {"dropped_v4": ("ipv4_addr", "ip"), "dropped_v6": ("ipv6_addr", "ip6")}
DROPPED_SIZE = 65535  # sources remembered at most; a full set still drops, uncounted
DROPPED_TIMEOUT = "1h"

V4 = ipaddress.IPv4Network
V6 = ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Family:
    """Networks of one source, split by address family and merged (nft refuses overlaps
    inside an interval set)."""

    v4: tuple[V4, ...] = ()
    v6: tuple[V6, ...] = ()

    @classmethod
    def of(cls, nets: list[IPNetwork]) -> Family:
        v4 = [n for n in nets if n.version == 4]
        v6 = [n for n in nets if n.version == 6]
        return cls(tuple(_merge(v4)), tuple(_merge(v6)))  # type: ignore[arg-type]  # each list holds one IP version, split above

    def __len__(self) -> int:
        return len(self.v4) + len(self.v6)


@dataclass(frozen=True, slots=True)
class Allowlist:
    """What the ruleset admits, in the site's words."""

    eig_port: int
    ssh_ports: tuple[int, ...]
    partners: dict[str, Family] = field(default_factory=dict)
    peers: Family = Family()
    jump: Family = Family()
    table: str = TABLE

    @property
    def cidrs(self) -> int:
        return sum(len(f) for f in self.partners.values())


def allowlist(site: Site, table: str = TABLE) -> Allowlist:
    """The allowlist of every enabled partner, its tunnel peer and the jump server."""
    hub = site.hub
    eig = hub.listen.get("eig")
    jump_hosts = [h for h in hub.hosts if h.name == "jump"] or [
        h for h in hub.hosts if h.zone == "admin"
    ]
    enabled = [p for p in sorted(site.partners.values(), key=lambda p: p.id) if not p.disabled]
    return Allowlist(
        eig_port=eig.port if eig else 8443,
        ssh_ports=tuple(sorted({h.ssh_port for h in hub.hosts})),
        partners={p.id: Family.of(list(p.allowed_ips)) for p in enabled},
        peers=Family.of([_host(p.tunnel.peer_ip) for p in enabled if p.tunnel]),
        jump=Family.of([_host(h.address) for h in jump_hosts]),
        table=table,
    )


def render(allow: Allowlist) -> str:
    """The nft script that replaces Corridor's table atomically (`nft -f`)."""
    t = allow.table
    out = [
        "# Corridor's perimeter allowlist, generated from the site directory.",
        "# Edit the site and run `corridor firewall apply`; this table is replaced whole.",
        f"table inet {t} {{}}",  # so that the delete below cannot fail on a first apply
        f"delete table inet {t}",
        f"table inet {t} {{",
    ]
    rules: list[str] = []
    port = allow.eig_port
    for pid, fam in allow.partners.items():
        for name, proto, _ in _sets(out, f"eig_{_name(pid)}", fam):
            rules.append(f"tcp dport {port} {proto} saddr @{name} counter accept "
                         f'comment "eig {pid}"')
    ike = "{ " + ", ".join(str(p) for p in IKE_PORTS) + " }"
    for name, proto, _ in _sets(out, "tunnel_peers", allow.peers):
        rules.append(f'udp dport {ike} {proto} saddr @{name} counter accept comment "ike peers"')
        rules.append(f'meta l4proto esp {proto} saddr @{name} counter accept comment "esp peers"')
    ssh = "{ " + ", ".join(str(p) for p in allow.ssh_ports) + " }"
    if allow.ssh_ports:
        for name, proto, _ in _sets(out, "jump", allow.jump):
            rules.append(f'tcp dport {ssh} {proto} saddr @{name} counter accept comment "ssh jump"')
    guarded = [("eig", f"tcp dport {port}"), ("ike", f"udp dport {ike}"),
               ("esp", "meta l4proto esp")]
    if allow.ssh_ports:
        guarded.append(("ssh", f"tcp dport {ssh}"))
    for name, (kind, _) in DROPPED_SETS.items():
        out.append(f"\tset {name} {{ type {kind}; size {DROPPED_SIZE}; flags dynamic,timeout; "
                   f"timeout {DROPPED_TIMEOUT}; counter; }}")
    for what, match in guarded:
        rules.append(f'{match} limit rate {LOG_RATE} log prefix "corridor drop {what}: " '
                     f'level info comment "log {what}"')
        # No verdict here: counting a source never decides whether the packet is dropped.
        for name, (_, proto) in DROPPED_SETS.items():
            rules.append(f'{match} update @{name} {{ {proto} saddr }} comment "count {what}"')
        rules.append(f'{match} counter drop comment "drop {what}"')
    out.append("\tchain input {")
    out.append("\t\ttype filter hook input priority filter; policy accept;")
    out.extend(f"\t\t{rule}" for rule in rules)
    out.append("\t}")
    out.append("}")
    return "\n".join(out) + "\n"


def _sets(out: list[str], base: str, fam: Family) -> list[tuple[str, str, int]]:
    """Append the v4/v6 set declarations for `fam`; return (name, match keyword, size)."""
    made = []
    for suffix, kind, proto, nets in (("v4", "ipv4_addr", "ip", fam.v4),
                                      ("v6", "ipv6_addr", "ip6", fam.v6)):
        if not nets:
            continue
        name = f"{base}_{suffix}"
        elements = ", ".join(map(str, nets))
        out.append(f"\tset {name} {{ type {kind}; flags interval; elements = {{ {elements} }} }}")
        made.append((name, proto, len(nets)))
    return made


def _name(partner_id: str) -> str:
    # Partner ids are lowercase letters, digits and '-'; nft names take '_' instead.
    return partner_id.replace("-", "_")


def _host(address: str) -> IPNetwork:
    return ipaddress.ip_network(address)


def _merge(nets: list[IPNetwork]) -> list[IPNetwork]:
    """Drop networks already covered by a wider one: nft refuses overlapping intervals in
    a set, while adjacent ones are fine. Integer ranges keep this fast for 100k entries
    (`ipaddress.collapse_addresses` also merges neighbours and is ten times slower)."""
    if len(nets) < 2:
        return list(nets)
    ordered = sorted(nets, key=lambda n: (int(n.network_address), n.prefixlen))
    kept: list[IPNetwork] = []
    end = -1
    for net in ordered:
        start = int(net.network_address)
        if start <= end:
            continue  # inside the previous kept network (CIDRs nest or are disjoint)
        kept.append(net)
        end = int(net.broadcast_address)
    return kept
