"""Packet-capture filters for one partner, built from the site (pure: no I/O).

Two sides of a partner's traffic:

- outer: the tunnel itself, between the hub and the partner's peer address: IKE (UDP 500),
  NAT traversal (UDP 4500, carrying IKE and ESP) and ESP (IP protocol 50);
- inner: what travels inside the tunnel (or without one): the partner's allowlisted
  sources to and from EIG's port; for a receive partner, the hub's payouts to its API
  endpoint; for a send partner, the hub's sender callbacks to its callback URL.

The filter is a BPF expression (pcap-filter(7)) that tcpdump compiles; each term says in
the site's words what it selects, so an operator can read what a capture holds.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from corridor.net.errors import NothingToCapture
from corridor.site.model import Partner, Site

Side = Literal["outer", "inner"]
SIDES: tuple[Side, ...] = ("outer", "inner")
IKE_PORT = 500
NAT_T_PORT = 4500  # IKE after NAT detection, and ESP in UDP
ESP_PROTO = 50
_DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True, slots=True)
class Term:
    what: str  # in the site's words: "sender callbacks to 127.0.0.1:9101"
    bpf: str


@dataclass(frozen=True, slots=True)
class CaptureFilter:
    partner: str
    side: Side
    terms: tuple[Term, ...]

    @property
    def expression(self) -> str:
        """The whole filter: any of the terms."""
        if len(self.terms) == 1:
            return self.terms[0].bpf
        return " or ".join(f"({t.bpf})" for t in self.terms)


def capture_filter(site: Site, partner: Partner, side: Side) -> CaptureFilter:
    """The filter for one side of `partner`'s traffic; NothingToCapture when the site
    gives that side nothing (no tunnel for outer; no allowlist, endpoint or callback URL
    for inner)."""
    terms = outer_terms(partner) if side == "outer" else inner_terms(site, partner)
    if not terms:
        why = ("has no tunnel" if side == "outer"
               else "has no allowed_ips, endpoint or callback_url")
        raise NothingToCapture(f"{partner.id} {why}: nothing to capture on the {side} side "
                               f"({partner.source})")
    return CaptureFilter(partner.id, side, terms)


def outer_terms(partner: Partner) -> tuple[Term, ...]:
    if partner.tunnel is None:
        return ()
    peer = partner.tunnel.peer_ip
    ip = "ip6" if ipaddress.ip_address(peer).version == 6 else "ip"
    bpf = (f"host {peer} and (udp port {IKE_PORT} or udp port {NAT_T_PORT} "
           f"or {ip} proto {ESP_PROTO})")
    return (Term(f"IKE, NAT-T and ESP with peer {peer}", bpf),)


def inner_terms(site: Site, partner: Partner) -> tuple[Term, ...]:
    terms: list[Term] = []
    eig = site.hub.listen.get("eig")
    if eig is not None and partner.allowed_ips:
        nets = " or ".join(f"net {n}" for n in partner.allowed_ips)
        sources = ", ".join(str(n) for n in partner.allowed_ips)
        terms.append(Term(f"{sources} to and from EIG port {eig.port}",
                          f"tcp port {eig.port} and ({nets})"))
    if partner.receives and partner.endpoint:
        terms.append(_to_url("payouts to", partner.endpoint))
    if partner.sends and partner.callback_url:
        terms.append(_to_url("sender callbacks to", partner.callback_url))
    return tuple(terms)


def _to_url(what: str, url: str) -> Term:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 443)
    shown = f"[{host}]" if ":" in host else host
    return Term(f"{what} {shown}:{port}", f"host {host} and tcp port {port}")
