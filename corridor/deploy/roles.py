"""What each host of hub.yaml runs and which files of the site's pki/ and secrets/ it may
hold (pure: paths come from `corridor.pki.layout` and the site's own references).

A host runs the server it is named after: `eig`, `txn`, `rpt`, `vpn` or `jump`, or that
name with a suffix (`eig-2`, `txn-b`) for a second host of the same kind.

Beside the operator's files (hub.yaml, partners/, access.yaml, sanctions/), each role holds
only these secrets (docs/deploy.md has the table with the public files and the reasons):
EIG its key and the partners' API-key hashes; TXN its key and the callback HMAC secrets (it
signs sender callbacks and checks receiver callbacks, which EIG passes on unchecked), and
the store's password in its environment file only; RPT its key; VPN the tunnels' PSKs;
jump the admins' TOTP secrets (its SSH keys are made in its own data directory).
CA keys, the demo's clear API keys (secrets/demo-keys.json), keys the hub made for partners
and operators' keys stay on the PKI operator's machine: no host holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from corridor.deploy.errors import DeployError
from corridor.pki.layout import Layout
from corridor.site.model import Host, Site

INET = ("AF_UNIX", "AF_INET", "AF_INET6")


@dataclass(frozen=True, slots=True)
class Grant:
    """One file of the site that a host's copy holds."""

    path: Path  # in the source site
    secret: bool  # a private key or shared secret (0600); else public (0644)
    required: bool = True  # the host cannot do its work without it


@dataclass(frozen=True, slots=True)
class Unit:
    """One systemd service of a host: a `corridor` subcommand and what it may do."""

    name: str  # the unit's name without `.service`
    description: str
    args: tuple[str, ...]  # the `corridor` subcommand and its options
    oneshot: bool = False  # applies something and exits (firewall, tunnels)
    capabilities: tuple[str, ...] = ()
    families: tuple[str, ...] = INET  # socket address families it may open
    writable: tuple[str, ...] = ()  # paths outside its state directory it writes
    namespaces: tuple[str, ...] = ()  # kinds of namespace it may create (none by default)
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    wants: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    title: str
    units: tuple[Unit, ...]
    listens: tuple[str, ...] = ()  # hub.yaml listeners its server binds
    # The VPN host's commands run as root, without capabilities beyond the firewall's
    # CAP_NET_ADMIN: pluto's control socket answers root only (Libreswan makes it 0700)
    # and /etc/ipsec.d, where `vpn apply` writes, is root's.
    as_root: bool = False

    @property
    def user(self) -> str:
        return "root" if self.as_root else f"corridor-{self.name}"

    @property
    def state_dir(self) -> str:
        """The data directory (`CORRIDOR_DATA`), which systemd creates for the units."""
        return f"/var/lib/corridor-{self.name}"


def _server(name: str, title: str, listens: tuple[str, ...]) -> Role:
    unit = Unit(f"corridor-{name}", f"Corridor {title}", ("serve", name),
                after=("network-online.target",), wants=("network-online.target",))
    return Role(name, title, (unit,), listens)


ROLES: dict[str, Role] = {
    "eig": _server("eig", "EIG, the partner gateway", ("eig", "eig_internal")),
    "txn": _server("txn", "TXN, the transaction engine", ("txn",)),
    "rpt": _server("rpt", "RPT, reporting", ("rpt",)),
    "jump": _server("jump", "jump server, the SSH bastion", ("jump",)),
    "vpn": Role("vpn", "VPN, the partner tunnels and their firewall", (
        # The allowlist and the tunnels' files are in place before pluto starts; pluto
        # reads the files at its start, and `vpn apply` loads changes into a running one.
        Unit("corridor-firewall", "Corridor firewall: the partner allowlist (nftables)",
             ("firewall", "apply"), oneshot=True, capabilities=("CAP_NET_ADMIN",),
             families=("AF_UNIX", "AF_NETLINK"), before=("ipsec.service",),
             # nft reads the site's ruleset back in a throwaway namespace (net/nft.py).
             namespaces=("user", "net")),
        Unit("corridor-vpn", "Corridor tunnels: Libreswan conns and secrets",
             ("vpn", "apply"), oneshot=True, writable=("/etc/ipsec.d",),
             families=(*INET, "AF_NETLINK"),  # Libreswan's tools ask the kernel
             after=("corridor-firewall.service",), before=("ipsec.service",)),
        Unit("corridor-vpn-monitor", "Corridor tunnel monitor", ("vpn", "monitor"),
             after=("ipsec.service",), wants=("ipsec.service",)),
        Unit("corridor-firewall-metrics", "Corridor firewall counters for Prometheus",
             ("firewall", "metrics"), capabilities=("CAP_NET_ADMIN",),
             families=(*INET, "AF_NETLINK"), after=("corridor-firewall.service",)),
    ), as_root=True),
}


def role_of(site: Site, host_name: str) -> tuple[Host, Role]:
    """The host of hub.yaml named `host_name` and the role it plays, or DeployError."""
    host = site.hub.host(host_name)
    if host is None:
        known = ", ".join(h.name for h in site.hub.hosts) or "none"
        raise DeployError(f"no host {host_name!r} in hub.yaml hosts (hosts: {known})",
                          code="deploy_unknown_host")
    role = ROLES.get(host.name.partition("-")[0])
    if role is None:
        raise DeployError(
            f"host {host.name!r} runs no Corridor server: name it after the one it runs "
            f"({', '.join(ROLES)}), with a suffix for a second one (eig-2)",
            code="deploy_unknown_role")
    return host, role


def grants(site: Site, role: Role) -> list[Grant]:
    """The files of pki/ and secrets/ a host of `role` holds, each once, in order."""
    seen: dict[Path, Grant] = {}
    for grant in _NEEDS[role.name](site, Layout(site.root)):
        seen.setdefault(grant.path, grant)
    return list(seen.values())


def _public(path: Path, required: bool = True) -> Grant:
    return Grant(path, secret=False, required=required)


def _secret(path: Path, required: bool = True) -> Grant:
    return Grant(path, secret=True, required=required)


def _own(layout: Layout, name: str) -> list[Grant]:
    """A hub server's certificate and key, and the hub CA certificate its peers chain to."""
    cert, key = layout.hub(name)
    return [_public(cert), _secret(key), _public(layout.hub_ca[0])]


def _eig(site: Site, layout: Layout) -> list[Grant]:
    out = [*_own(layout, "eig"), _public(layout.partner_ca[0]), _public(layout.partner_crl)]
    for p in site.partners.values():
        # A partner's certificate is its pin; one not issued yet is refused by EIG anyway.
        # During a renewal's overlap its renewed certificate is a second pin.
        out += [_public(layout.partner(p.id)[0], required=False),
                _public(layout.partner_next(p.id)[0], required=False),
                _secret(p.api_key_file, required=not p.disabled)]
    return out


def _txn(site: Site, layout: Layout) -> list[Grant]:
    # The partner CA: receive partners' API servers chain to it (https-json connector).
    out = [*_own(layout, "txn"), _public(layout.partner_ca[0])]
    for p in site.partners.values():
        if p.callback_secret_file is not None:
            out.append(_secret(p.callback_secret_file, required=not p.disabled))
    return out


def _rpt(site: Site, layout: Layout) -> list[Grant]:
    # The hub CRL revokes operators; RPT serves without one until the first revocation.
    out = [*_own(layout, "rpt"), _public(layout.hub_crl, required=False)]
    return out + [_public(cert, required=False) for cert in layout.certificates()]


def _vpn(site: Site, layout: Layout) -> list[Grant]:
    return [_secret(p.tunnel.psk_file, required=not p.disabled)
            for p in site.partners.values()
            if p.tunnel is not None and p.tunnel.psk_file is not None]


def _jump(site: Site, layout: Layout) -> list[Grant]:
    # An admin not enrolled yet (`corridor jump enroll`) has no TOTP file: refused at login.
    return [_secret(a.totp_file, required=False)
            for a in site.access.admins.values() if a.totp_file is not None]


_NEEDS: dict[str, Callable[[Site, Layout], list[Grant]]] = {
    "eig": _eig, "txn": _txn, "rpt": _rpt, "vpn": _vpn, "jump": _jump,
}
