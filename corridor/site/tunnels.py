"""The `tunnel` block of a partner file: the IPsec peer, subnets, authentication and
proposals the VPN conn is generated from."""

from __future__ import annotations

from pathlib import Path

from corridor.site.fields import Reader
from corridor.site.model import Tunnel

MIN_PSK_BYTES = 32


def read_tunnel(r: Reader, root: Path) -> Tunnel | None:
    r.allow_only(
        "peer_ip", "peer_id", "partner_subnets", "hub_subnets", "auth", "psk", "ike", "esp"
    )
    peer_ip = r.str("peer_ip")
    peer_id = r.str("peer_id")
    partner_subnets = r.networks("partner_subnets")
    hub_subnets = r.networks("hub_subnets")
    auth = r.choice("auth", ("psk", "cert"))
    psk = r.ref("psk", root, required=auth == "psk")
    ike = r.str("ike")
    esp = r.str("esp")
    if None in (peer_ip, peer_id, auth, ike, esp):
        return None
    return Tunnel(
        peer_ip=peer_ip,
        peer_id=peer_id,
        partner_subnets=partner_subnets,
        hub_subnets=hub_subnets,
        auth=auth,  # type: ignore[arg-type]
        psk_file=psk,
        ike=ike,
        esp=esp,
    )
