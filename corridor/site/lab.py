"""The `lab` block of hub.yaml: the addresses `corridor lab up` gives the hub's hosts when it
builds them as network namespaces (the segments of each zone, the internet, an admin's
workstation and a stranger on the internet).

The lab speaks IPv4. Checks here refuse a lab whose networks overlap each other or any
tunnel's subnets, an address outside its segment or taken twice, and a tunnel end (the
hub's public IP, a partner's peer IP) that the lab's internet does not hold.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping

from corridor.site.faults import Faults
from corridor.site.fields import Reader, parse_cidr
from corridor.site.model import ZONES, Hub, Lab, Partner
from corridor.site.yamlines import Node

V4Net = ipaddress.IPv4Network
V4 = ipaddress.IPv4Address


def vpn_host(zones: Mapping[str, str]) -> str | None:
    """Of hub.yaml's hosts (name -> zone), the one that terminates the tunnels and routes
    between the lab's segments: the one named `vpn`, else the only host in the edge zone."""
    if "vpn" in zones:
        return "vpn"
    edge = [name for name, zone in zones.items() if zone == "edge"]
    return edge[0] if len(edge) == 1 else None


def gateway(net: V4Net) -> V4:
    """The router's address on a lab network: its first host address."""
    return net.network_address + 1


def read_lab(r: Reader, hub_hosts: Iterable[tuple[str, str]]) -> Lab | None:
    """`hub_hosts` are (name, zone) of hub.yaml's hosts."""
    r.allow_only("internet", "segments", "addresses", "desk", "stranger")
    lines: dict[str, int] = {}
    internet: list[V4Net] = []
    items = r.list("internet")
    for i, item in enumerate(items or ()):
        net = parse_cidr(item, items.at(i), r.faults)  # type: ignore[union-attr]
        if net is not None and _v4(r.faults, items.at(i), "internet", net):  # type: ignore[union-attr]
            lines[f"internet {net}"] = items.at(i).line  # type: ignore[union-attr]
            internet.append(net)  # type: ignore[arg-type]
    segments: dict[str, V4Net] = {}
    seg_r = r.sub("segments")
    for zone in seg_r.data if seg_r is not None else ():
        where = seg_r.at(zone)  # type: ignore[union-attr]
        if zone not in ZONES:
            r.faults.add(where, f"lab.segments: unknown zone {zone!r} (zones: {', '.join(ZONES)})")
            continue
        net = parse_cidr(seg_r.data[zone], where, r.faults)  # type: ignore[union-attr]
        if net is not None and _v4(r.faults, where, f"segments.{zone}", net):
            segments[zone] = net  # type: ignore[assignment]
            lines[f"segments.{zone}"] = where.line
    addresses: dict[str, V4] = {}
    addr_r = r.sub("addresses")
    for name in addr_r.data if addr_r is not None else ():
        ip = _address(addr_r, name)  # type: ignore[arg-type]
        if ip is not None:
            addresses[name] = ip
            lines[f"addresses.{name}"] = addr_r.at(name).line  # type: ignore[union-attr]
    desk, stranger = _address(r, "desk"), _address(r, "stranger")
    if desk is None or stranger is None or items is None or len(internet) != len(items):
        return None
    lines.update(lab=r.data.where.line, desk=r.at("desk").line, stranger=r.at("stranger").line)
    lab = Lab(internet=tuple(internet), segments=segments, addresses=addresses,
              desk=desk, stranger=stranger, lines=lines)
    _check_hosts(r, lab, dict(hub_hosts))
    return lab


def _v4(faults: Faults, where: Node, key: str, net: object) -> bool:
    if isinstance(net, V4Net):
        return True
    faults.add(where, f"lab.{key} {net}: the lab speaks IPv4 only")
    return False


def _address(r: Reader, key: str) -> V4 | None:
    value = r.str(key)
    if value is None:
        return None
    try:
        return V4(value)
    except ValueError:
        r.faults.add(r.at(key), f"{r._name(key)} {value!r} is not an IPv4 address")
        return None


def _check_hosts(r: Reader, lab: Lab, zones: dict[str, str]) -> None:
    addr_r = r.sub("addresses")
    where = addr_r.at if addr_r is not None else r.at
    for name, ip in lab.addresses.items():
        zone = zones.get(name)
        if zone is None:
            r.faults.add(where(name), f"lab.addresses: {name!r} is not a host of hub.yaml")
            continue
        _inside(r.faults, where(name), f"host {name}", ip, lab.segments.get(zone), zone)
    vpn = vpn_host(zones)
    if vpn is None:
        r.faults.add(r.data.where, "lab: hub.yaml needs a host named vpn (or one edge host) "
                                   "to terminate the tunnels")
    for name, zone in zones.items():
        if name != vpn and name not in lab.addresses:
            r.faults.add(r.at("addresses"),
                         f"lab.addresses: missing an address for host {name!r} ({zone})")
    _inside(r.faults, r.at("desk"), "the admin desk", lab.desk, lab.segments.get("admin"),
            "admin")
    if not any(lab.stranger in n for n in lab.internet):
        r.faults.add(r.at("stranger"), f"lab.stranger {lab.stranger} is outside lab.internet")


def _inside(faults: Faults, where: Node, what: str, ip: V4, net: V4Net | None,
            zone: str) -> None:
    if net is None:
        faults.add(where, f"lab: {what} is in zone {zone}, which has no lab.segments entry")
    elif ip not in net or ip in (net.network_address, net.broadcast_address):
        faults.add(where, f"lab: {what} {ip} is not a host address of segment {zone} {net}")
    elif ip == gateway(net):
        faults.add(where, f"lab: {what} {ip} is the vpn host's address on segment {zone}")


def check_lab(hub: Hub, partners: dict[str, Partner], faults: Faults) -> None:
    """Across files: the lab's networks against each other and every tunnel's subnets, the
    tunnel ends inside the lab's internet, and no address taken twice."""
    lab = hub.lab
    if lab is None:
        return

    def at(key: str) -> Node:
        return Node("hub.yaml", lab.lines.get(key, lab.lines.get("lab", 1)))

    own = [(f"internet {n}", f"lab.internet {n}", n) for n in lab.internet]
    own += [(f"segments.{z}", f"lab.segments.{z} {n}", n) for z, n in lab.segments.items()]
    tunnels: list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]] = []
    for p in sorted(partners.values(), key=lambda p: p.id):
        for kind in ("partner_subnets", "hub_subnets") if p.tunnel is not None else ():
            for n in getattr(p.tunnel, kind):
                tunnels.append((f"{p.id}'s tunnel.{kind} {n} ({p.where('tunnel')})", n))
    for i, (key, name, net) in enumerate(own):
        others = [(o_name, o) for _, o_name, o in own[i + 1:]] + tunnels
        for o_name, other in others:
            if net.version == other.version and net.overlaps(other):
                faults.add(at(key), f"{name} overlaps {o_name}")
    taken: dict[V4, str] = {}

    def take(ip: V4, what: str, key: str) -> None:
        if ip in taken:
            faults.add(at(key), f"lab: {what} {ip} is also {taken[ip]}")
        taken.setdefault(ip, what)

    for n in lab.internet:
        take(gateway(n), f"the internet router's address on {n}", f"internet {n}")
    for zone, n in lab.segments.items():
        take(gateway(n), f"the vpn host's address on segment {zone}", f"segments.{zone}")
    for name, ip in lab.addresses.items():
        take(ip, f"host {name}", f"addresses.{name}")
    take(lab.desk, "the admin desk", "desk")
    take(lab.stranger, "the stranger", "stranger")
    ends = [("hub.public_ip", hub.public_ip)]
    ends += [(f"{p.id}'s tunnel.peer_ip ({p.where('tunnel')})", p.tunnel.peer_ip)
             for p in sorted(partners.values(), key=lambda p: p.id) if p.tunnel is not None]
    for what, text in ends:
        ip = ipaddress.ip_address(text)
        if not any(ip in n for n in lab.internet):
            faults.add(at("lab"), f"lab: {what} {ip} is outside lab.internet")
        elif isinstance(ip, V4):
            take(ip, what, "lab")
