"""The `tunnel` block of a partner file: the IPsec peer, subnets, authentication and
proposals the VPN conn is generated from.

Checks here refuse what would make a tunnel unsafe or ambiguous before anything is
generated: a short pre-shared key, a proposal Libreswan would not know or that is no
longer considered strong, and (across partners) subnets that two tunnels would both
claim, which would send one partner's traffic into another's tunnel.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from corridor.site.faults import Faults
from corridor.site.fields import Reader
from corridor.site.model import IPNetwork, Partner, Tunnel
from corridor.site.yamlines import LDict, LList, Node, SiteYaml, YamlFault

MIN_PSK_BYTES = 32

# Libreswan proposal vocabulary (`ipsec algparse` accepts these); only modern choices.
ENCRYPTION = frozenset(
    {"aes", "aes128", "aes192", "aes256", "aes_ctr", "aes_ctr128", "aes_ctr256",
     "aes_gcm", "aes_gcm128", "aes_gcm256", "aes_gcm_16", "aes_gcm_c", "aes_gcm16",
     "aes_gcm16_128", "aes_gcm16_256", "aes_gcm_16_128", "aes_gcm_16_256",
     "chacha20_poly1305"}
)
INTEGRITY = frozenset(
    {"sha2", "sha256", "sha2_256", "sha384", "sha2_384", "sha512", "sha2_512"}
)
DH_GROUPS = frozenset(
    {"dh14", "dh15", "dh16", "dh18", "dh19", "dh20", "dh21", "dh31", "modp2048", "modp3072",
     "modp4096", "modp6144", "modp8192", "ecp256", "ecp384", "ecp521", "curve25519"}
)
WEAK = frozenset(
    {"3des", "des", "md5", "sha", "sha1", "modp1024", "modp1536", "dh2", "dh5", "dh22",
     "dh23", "dh24", "null"}
)
_TOKEN = re.compile(r"[-;+]")


def read_tunnel(r: Reader, root: Path) -> Tunnel | None:
    r.allow_only(
        "peer_ip", "peer_id", "partner_subnets", "hub_subnets", "auth", "psk", "ike", "esp"
    )
    peer_ip = _address(r, "peer_ip")
    peer_id = r.str("peer_id")
    partner_subnets = r.networks("partner_subnets")
    hub_subnets = r.networks("hub_subnets")
    auth = r.choice("auth", ("psk", "cert"))
    psk = r.ref("psk", root, required=auth == "psk")
    ike = _proposals(r, "ike", need_integrity=True)
    esp = _proposals(r, "esp", need_integrity=False)
    if psk is not None:
        _check_psk(r, psk)
    _check_own_overlaps(r, partner_subnets, hub_subnets)
    if None in (peer_ip, peer_id, auth, ike, esp):
        return None
    return Tunnel(
        peer_ip=peer_ip,
        peer_id=peer_id,
        partner_subnets=partner_subnets,
        hub_subnets=hub_subnets,
        auth=auth,  # type: ignore[arg-type]  # None only with a fault; a faulty site is never used
        psk_file=psk,
        ike=ike,
        esp=esp,
    )


def _address(r: Reader, key: str) -> str | None:
    value = r.str(key)
    if value is None:
        return None
    try:
        ipaddress.ip_address(value)
    except ValueError:
        r.faults.add(r.at(key), f"tunnel.{key} {value!r} is not an IP address")
        return None
    return value


def proposal_problem(text: str, need_integrity: bool) -> str | None:
    """Why a Libreswan proposal list (e.g. "aes256-sha2_256;dh19") is refused, or None."""
    if not text.strip():
        return "is empty"
    for proposal in text.split(","):
        tokens = [t for t in _TOKEN.split(proposal.strip().lower())]
        if not tokens or "" in tokens:
            return f"proposal {proposal!r} does not parse"
        for token in tokens:
            if token in WEAK:
                return f"algorithm {token!r} is too weak"
            if token not in ENCRYPTION | INTEGRITY | DH_GROUPS:
                return f"unknown algorithm {token!r}"
        if tokens[0] not in ENCRYPTION:
            return f"proposal {proposal!r} must start with an encryption algorithm"
        aead = "gcm" in tokens[0] or "chacha" in tokens[0]
        if need_integrity and not aead and not INTEGRITY.intersection(tokens):
            return f"proposal {proposal!r} names no integrity algorithm"
    return None


def _proposals(r: Reader, key: str, need_integrity: bool) -> str | None:
    value = r.str(key)
    if value is None:
        return None
    problem = proposal_problem(value, need_integrity)
    if problem:
        r.faults.add(r.at(key), f"tunnel.{key} {value!r}: {problem}")
        return None
    return value


def _check_psk(r: Reader, path: Path) -> None:
    """A PSK shorter than 32 bytes can be guessed offline from one captured handshake."""
    if not path.is_file():
        return  # created later by `corridor partner add`; render refuses a missing one
    secret = path.read_bytes().strip()
    if len(secret) < MIN_PSK_BYTES:
        r.faults.add(
            r.at("psk"), f"tunnel.psk is {len(secret)} bytes; it must be at least {MIN_PSK_BYTES}"
        )
    if path.stat().st_mode & 0o077:
        r.faults.add(r.at("psk"), f"tunnel.psk file {path.name} must be mode 0600")


def _check_own_overlaps(
    r: Reader, partner_subnets: tuple[IPNetwork, ...], hub_subnets: tuple[IPNetwork, ...]
) -> None:
    for a in partner_subnets:
        for b in hub_subnets:
            if a.version == b.version and a.overlaps(b):
                r.faults.add(r.at("partner_subnets"), f"partner subnet {a} overlaps hub subnet {b}")


def check_tunnel_overlaps(files: SiteYaml, partners: dict[str, Partner], faults: Faults) -> None:
    """Across partners: no two tunnels may claim the same partner subnet, and no partner
    subnet may overlap a subnet the hub exposes through any tunnel."""
    tunnels = [(p, p.tunnel) for p in partners.values() if p.tunnel is not None]
    for i, (a, ta) in enumerate(tunnels):
        for b, tb in tunnels[i + 1:]:
            for na in ta.partner_subnets:
                for nb in tb.partner_subnets:
                    if na.version == nb.version and na.overlaps(nb):
                        where = _line(files, b, "partner_subnets", str(nb))
                        faults.add(where, f"tunnel.partner_subnets {nb} overlaps {na} of {a.id}")
    for a, ta in tunnels:
        for b, tb in tunnels:
            if a is b:
                continue
            for na in ta.partner_subnets:
                for nb in tb.hub_subnets:
                    if na.version == nb.version and na.overlaps(nb):
                        where = _line(files, a, "partner_subnets", str(na))
                        faults.add(where, f"tunnel.partner_subnets {na} overlaps hub subnet "
                                          f"{nb} of {b.id}'s tunnel")


def _line(files: SiteYaml, partner: Partner, key: str, value: str) -> Node:
    """Where `tunnel.<key>` lists `value` in the partner's file (reread only on a fault)."""
    fallback = Node(partner.source, 1)
    try:
        data = files.load(partner.source)
    except (YamlFault, OSError):
        return fallback
    tunnel = data.get("tunnel") if isinstance(data, LDict) else None
    if not isinstance(tunnel, LDict):
        return fallback
    items = tunnel.get(key)
    if isinstance(items, LList):
        for i, item in enumerate(items):
            if item == value:
                return items.at(i)
    return tunnel.at(key)
