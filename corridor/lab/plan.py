"""What the lab is, derived from the site (pure: no I/O): its hosts, the links and bridges
that join them, every address and route, the servers each host runs, and the flows the
zone rules admit.

The shape, for the demo site:

    payfast --lan-- payfast-gw --+                        +-- dmz ---- eig
    mobicash --lan- mobicash-gw -+-- internet (net) -- vpn +-- core --- txn, rpt
                      stranger --+                        +-- admin -- jump, desk

`net` is the internet's router. `vpn` terminates every tunnel, applies the partner
allowlist, and routes between the internet and the zones' segments (bridges inside it) under
the zone rules. Each partner sees the hub at one address of its tunnel's hub subnet (its
"face", held by the vpn host): the vpn host forwards the face's EIG port to EIG, keeping
the partner's source address, and sends TXN's calls to the partner from the face, so that
they match the tunnel's policy.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from corridor.lab.errors import LabError
from corridor.site.lab import gateway, vpn_host
from corridor.site.model import Lab, Partner, Site

V4 = ipaddress.IPv4Address
V4Net = ipaddress.IPv4Network
V4If = ipaddress.IPv4Interface
SERVED = ("eig", "txn", "rpt", "jump")  # hub hosts whose name is a `corridor serve` server


@dataclass(frozen=True, slots=True)
class Route:
    dest: str  # "default" or a CIDR
    via: V4
    src: V4 | None = None


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    kind: str  # hub, router, gateway (a partner's), app (a partner's), desk, stranger
    zone: str  # a hub zone, "internet", or "partner <id>"
    addresses: tuple[V4If, ...] = ()  # on its links (the router's on its bridges)
    loopback: tuple[V4, ...] = ()  # extra /32s on lo: the vpn host's faces
    routes: tuple[Route, ...] = ()
    forwards: bool = False
    servers: tuple[str, ...] = ()  # what runs on it: sshd, pluto, eig, txn, sim ...

    @property
    def address(self) -> V4:
        return self.addresses[0].ip


@dataclass(frozen=True, slots=True)
class Bridge:
    host: str
    name: str
    addresses: tuple[V4If, ...]


@dataclass(frozen=True, slots=True)
class Link:
    """A veth pair: `a`'s end carries `a_addr` (or none); `b`'s end is a port of `b_bridge`,
    or carries `b_addr`."""

    a: str
    a_if: str
    a_addr: V4If | None
    b: str
    b_if: str
    b_addr: V4If | None = None
    b_bridge: str | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    """One thing the zone rules admit: `src` may open TCP connections to `dst` on `port`.
    Anything a flow does not name is dropped and counted."""

    label: str  # "eig -> txn api"
    src: str  # a host, or a partner id for traffic out of its tunnel
    src_nets: tuple[V4Net, ...]
    dst: str  # a host, or a partner id for traffic into its tunnel
    dst_addr: V4
    port: int
    tunnel: str | None = None  # the partner whose tunnel the flow crosses


@dataclass(frozen=True, slots=True)
class PartnerEnd:
    id: str
    gateway: str  # host names
    app: str
    peer_ip: V4
    face: V4  # the vpn host's address in the partner's hub subnet
    app_addr: V4
    partner_subnets: tuple[V4Net, ...]
    hub_subnets: tuple[V4Net, ...]
    serves: tuple[tuple[str, int], ...]  # (what, port) the application listens on


@dataclass(frozen=True, slots=True)
class Plan:
    hosts: dict[str, Host]
    bridges: tuple[Bridge, ...]
    links: tuple[Link, ...]
    flows: tuple[Flow, ...]
    partners: dict[str, PartnerEnd]
    vpn: str
    networks: tuple[V4Net, ...]  # every network the lab puts addresses on
    ports: dict[str, int] = field(default_factory=dict)  # listener name -> port
    vpn_inside: V4 | None = None  # the vpn host's address towards the hub's own servers

    def address(self, host: str) -> V4:
        """Where the hub's servers reach `host` (hub.yaml `hosts[].address` in the lab)."""
        if host == self.vpn and self.vpn_inside is not None:
            return self.vpn_inside
        return self.hosts[host].address

    def zone_of(self, host: str) -> str:
        return self.hosts[host].zone


def plan(site: Site) -> Plan:
    hub = site.hub
    lab = hub.lab
    if lab is None:
        raise LabError(f"{site.root}/hub.yaml has no lab block: add one (see the demo site)")
    vpn = vpn_host({h.name: h.zone for h in hub.hosts})
    if vpn is None:
        raise LabError("hub.yaml needs a host named vpn (or one edge host)")
    ports = {name: listen.port for name, listen in hub.listen.items()}
    for needed in ("eig", "txn"):
        if needed not in ports:
            raise LabError(f"hub.yaml has no listen.{needed}")
    partners = [p for p in sorted(site.partners.values(), key=lambda p: p.id)
                if p.tunnel is not None and not p.disabled]
    public = V4(hub.public_ip)
    hosts: dict[str, Host] = {}
    bridges: list[Bridge] = []
    links: list[Link] = []
    seen_ifs: dict[str, int] = {}

    def port_name(host: str) -> str:
        # Interface names hold 15 characters; bridge ports are numbered per router.
        seen_ifs[host] = seen_ifs.get(host, 0) + 1
        return f"p{seen_ifs[host]}"

    def add(host: Host) -> None:
        if host.name in hosts:
            raise LabError(f"two lab hosts are named {host.name!r}: rename the partner or host")
        hosts[host.name] = host

    # The internet: one bridge in the router `net`, which holds the first address of each
    # internet network and routes between them.
    routers = tuple(_iface(gateway(n), n) for n in lab.internet)
    add(Host("net", "router", "internet", routers, forwards=True))
    bridges.append(Bridge("net", "internet", routers))
    edge_net = _net_of(public, lab.internet, "hub.public_ip")

    def on_internet(name: str, ip: V4, what: str) -> V4If:
        net = _net_of(ip, lab.internet, what)
        links.append(Link(name, "internet", _iface(ip, net), "net", port_name("net"),
                          b_bridge="internet"))
        return _iface(ip, net)

    # The hub's hosts; the vpn host routes between the internet and each zone's segment.
    ends = {p.id: _partner_end(p, lab) for p in partners}
    zone_hosts = [h for h in hub.hosts if h.name != vpn]
    vpn_addrs = [on_internet(vpn, public, "hub.public_ip")]
    for zone, net in lab.segments.items():
        bridges.append(Bridge(vpn, zone, (_iface(gateway(net), net),)))
        vpn_addrs.append(_iface(gateway(net), net))
    vpn_routes = [Route("default", gateway(edge_net))]
    for end in ends.values():
        vpn_routes += [Route(str(n), gateway(edge_net), end.face) for n in end.partner_subnets]
    add(Host(vpn, "hub", hub.host(vpn).zone, tuple(vpn_addrs),  # type: ignore[union-attr]
             loopback=tuple(sorted({e.face for e in ends.values()})),
             routes=tuple(vpn_routes), forwards=True, servers=("pluto", "sshd")))
    for h in zone_hosts:
        net = lab.segments[h.zone]
        addr = _iface(lab.addresses[h.name], net)
        links.append(Link(h.name, "eth0", addr, vpn, port_name(vpn), b_bridge=h.zone))
        served = (h.name,) if h.name in SERVED else ()
        add(Host(h.name, "hub", h.zone, (addr,), routes=(Route("default", gateway(net)),),
                 servers=(*served, "sshd")))
    admin = lab.segments["admin"]
    links.append(Link("desk", "eth0", _iface(lab.desk, admin), vpn, port_name(vpn),
                      b_bridge="admin"))
    add(Host("desk", "desk", "admin", (_iface(lab.desk, admin),),
             routes=(Route("default", gateway(admin)),)))

    # Partners: a gateway on the internet and the application behind it on its subnet.
    for p in partners:
        end = ends[p.id]
        lan = end.partner_subnets[0]
        gw_lan = _iface(gateway(lan), lan)
        wan = on_internet(end.gateway, end.peer_ip, f"{p.id}'s tunnel.peer_ip")
        to_hub = [Route(str(n), gateway(wan.network), gw_lan.ip) for n in end.hub_subnets]
        add(Host(end.gateway, "gateway", f"partner {p.id}", (wan, gw_lan),
                 routes=(Route("default", gateway(wan.network)), *to_hub), forwards=True,
                 servers=("pluto",)))
        links.append(Link(end.app, "lan", _iface(end.app_addr, lan), end.gateway, "lan",
                          b_addr=gw_lan))
        add(Host(end.app, "app", f"partner {p.id}", (_iface(end.app_addr, lan),),
                 routes=(Route("default", gw_lan.ip),),
                 servers=tuple(f"sim {what}" for what, _ in end.serves)))
    stranger = on_internet("stranger", lab.stranger, "lab.stranger")
    add(Host("stranger", "stranger", "internet", (stranger,),
             routes=(Route("default", gateway(stranger.network)),)))

    networks = (*lab.internet, *lab.segments.values(),
                *(n for e in ends.values() for n in (*e.partner_subnets, *e.hub_subnets)))
    # The vpn host's own address for the hub's servers (its SSH, the jump server's target):
    # its leg in the admin segment.
    inside = gateway(lab.segments["admin"])
    return Plan(hosts, tuple(bridges), tuple(links),
                tuple(flows(site, hosts, ends, ports, {vpn: inside})), ends, vpn,
                tuple(networks), ports, inside)


def flows(site: Site, hosts: dict[str, Host], ends: dict[str, PartnerEnd],
          ports: dict[str, int], inside: dict[str, V4]) -> list[Flow]:
    """The zone rules, from the site: each partner reaches EIG through its tunnel; EIG
    reaches TXN's API (and RPT's reports, which it serves partners); RPT follows TXN's feed;
    TXN reaches each partner's application through its tunnel; the desk reaches the jump
    server; only the jump host reaches any host's SSH."""

    def at(name: str) -> V4 | None:
        return hosts[name].address if name in hosts else None

    def net(name: str) -> tuple[V4Net, ...]:
        return (V4Net(f"{hosts[name].address}/32"),)

    out: list[Flow] = []
    eig, txn, rpt, jump = (at(n) for n in SERVED)
    for end in ends.values():
        if eig is not None:
            out.append(Flow(f"{end.id} -> eig api (tunnel)", end.id, end.partner_subnets,
                            "eig", eig, ports["eig"], end.id))
    if eig is not None and txn is not None:
        out.append(Flow("eig -> txn api", "eig", net("eig"), "txn", txn, ports["txn"]))
    if eig is not None and rpt is not None and "rpt" in ports:
        out.append(Flow("eig -> rpt reports", "eig", net("eig"), "rpt", rpt, ports["rpt"]))
    if rpt is not None and txn is not None:
        out.append(Flow("rpt -> txn feed", "rpt", net("rpt"), "txn", txn, ports["txn"]))
    if txn is not None:
        for end in ends.values():
            for what, port in end.serves:
                out.append(Flow(f"txn -> {end.id} {what} (tunnel)", "txn", net("txn"), end.id,
                                end.app_addr, port, end.id))
    if jump is not None and "jump" in ports:
        out.append(Flow("desk -> jump bastion", "desk", net("desk"), "jump", jump,
                        ports["jump"]))
        for h in site.hub.hosts:
            if h.name != "jump" and h.name in hosts:
                out.append(Flow(f"jump -> {h.name} ssh", "jump", net("jump"), h.name,
                                inside.get(h.name, hosts[h.name].address), h.ssh_port))
    return out


def _partner_end(p: Partner, lab: Lab) -> PartnerEnd:
    t = p.tunnel
    assert t is not None
    mine = [n for n in t.partner_subnets if isinstance(n, V4Net) and n.num_addresses >= 4]
    theirs = [n for n in t.hub_subnets if isinstance(n, V4Net) and n.num_addresses >= 4]
    if not mine or not theirs:
        raise LabError(f"{p.where('tunnel')}: the lab needs an IPv4 partner subnet and hub "
                       "subnet of at least 4 addresses")
    app = gateway(mine[0]) + 1
    if not any(app in n for n in p.allowed_ips):
        raise LabError(f"{p.where('allowed_ips')}: the lab puts {p.id}'s application at {app}, "
                       f"which its allowed_ips do not hold")
    serves = []
    if p.receives and p.endpoint:
        serves.append(("payouts", urlsplit(p.endpoint).port or 443))
    if p.sends and p.callback_url:
        serves.append(("callbacks", urlsplit(p.callback_url).port or 443))
    return PartnerEnd(p.id, f"{p.id}-gw", p.id, V4(t.peer_ip), gateway(theirs[0]), app,
                      tuple(mine), tuple(theirs), tuple(serves))


def _iface(ip: V4, net: V4Net) -> V4If:
    return V4If(f"{ip}/{net.prefixlen}")


def _net_of(ip: V4, nets: tuple[V4Net, ...], what: str) -> V4Net:
    for n in nets:
        if ip in n:
            return n
    raise LabError(f"{what} {ip} is outside lab.internet")


def collisions(p: Plan, machine: list[V4If]) -> list[str]:
    """Lab networks that overlap an address network of this machine: one line each."""
    found = []
    for net in p.networks:
        for own in machine:
            if own.network.overlaps(net) and not own.ip.is_loopback:
                found.append(f"lab network {net} overlaps this machine's address {own}")
    return found
