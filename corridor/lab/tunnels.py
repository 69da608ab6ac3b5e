"""The tunnels of the lab: pluto on the vpn host loaded the way `corridor vpn apply` does,
and pluto on each partner's gateway loaded from `corridor vpn kit`, both from the lab's
site. Run directories (control sockets) live in the lab's directory, which must be on a
file system that holds UNIX sockets.

Certificate tunnels get IKE certificates from a CA of the lab's own, whose SAN is each
end's @FQDN IKE id: the hub's under the site's hub id (the nickname `vpn apply` names by
default), a partner's under its partner id (the nickname its kit names).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from corridor.lab.build import side_by_side
from corridor.lab.errors import LabError
from corridor.lab.plan import Plan
from corridor.lab.procs import TOOL_S
from corridor.lab.servers import host_dir
from corridor.lab.state import Proc, State
from corridor.net import libreswan, status, vpnfiles
from corridor.net.pluto import Pluto
from corridor.net.plutod import PlutoDaemon, TunnelCA
from corridor.net.status import TunnelStatus
from corridor.site.model import Site

REPAIR_AFTER_S = 20.0  # one end up, the other not, this long: the lagging end initiates


def daemon(state: State, host: str, nss_from: Path | None = None) -> PlutoDaemon:
    home = host_dir(state, host) / "pluto"
    return PlutoDaemon(state.ns(host), home, home / "ipsec.d", home / "run", TOOL_S,
                       nss_from)


def client(state: State, host: str) -> Pluto:
    """The running pluto of a tunnel end (without touching its files)."""
    return Pluto(host_dir(state, host) / "pluto" / "run" / "pluto.ctl", TOOL_S)


def ends(site: Site, plan: Plan, state: State) -> dict[str, tuple[TunnelStatus, TunnelStatus]]:
    """Each partner's tunnel as the vpn host's pluto and as the partner gateway's see it."""
    hub = client(state, plan.vpn)
    seen = status.parse(hub.status() if hub.running() else "", sorted(plan.partners))
    found = {}
    for end in plan.partners.values():
        gw = client(state, end.gateway)
        theirs = status.parse(gw.status() if gw.running() else "", [site.hub.id])
        found[end.id] = (seen[end.id], theirs[site.hub.id])
    return found


def settle(site: Site, plan: Plan, state: State, partners: list[str], need_ipsec: bool,
           timeout: float) -> dict[str, str]:
    """Wait until both ends of each partner's tunnel are up (IPsec SA), or, without
    `need_ipsec`, until both hold an IKE SA. Where one end has its IPsec SA and the other
    has none (under load a Child SA can fail on one side only: its reserved SPI expired
    before the kernel took the SA), the hub's end initiates again, as an operator would.
    Returns, for each tunnel not settled by the deadline, what each end says."""
    started = time.monotonic()
    kicked: dict[str, float] = {}
    while True:
        pending = {}
        for pid, (hub, gw) in ends(site, plan, state).items():
            if pid not in partners:
                continue
            up = (hub.state == "up", gw.state == "up")
            if all(up) or (not need_ipsec and hub.ike_sa is not None and gw.ike_sa is not None):
                continue
            pending[pid] = f"{plan.vpn}: {hub.label}; {plan.partners[pid].gateway}: {gw.label}"
            now = time.monotonic()
            if any(up) and not all(up) and now - kicked.get(pid, started) > REPAIR_AFTER_S:
                client(state, plan.vpn).initiate(pid)  # the dialing end (see `answering`)
                kicked[pid] = now
        if not pending or time.monotonic() - started > timeout:
            return pending
        time.sleep(1.0)


def start(site: Site, plan: Plan, state: State,
          step: Callable[[str], None] = lambda _: None) -> None:
    """pluto on every tunnel end, each loaded with its conns; the ends side by side;
    `step` hears each stage as it ends."""
    hosts = [plan.vpn, *(e.gateway for e in plan.partners.values())]
    hub = daemon(state, plan.vpn)  # its empty NSS database is copied for the others
    daemons = {plan.vpn: hub, **{h: daemon(state, h, hub.nss) for h in hosts[1:]}}
    ends = {e.id: daemons[e.gateway] for e in plan.partners.values()}
    step(f"NSS databases for {len(hosts)} pluto daemons")
    if _certificates(site, plan, state, hub, ends):
        step("IKE certificates issued and imported")

    def run(host: str) -> None:
        pluto = daemons[host].start()
        pid = pluto.pid()
        if pid is not None:
            state.started_process(Proc(host, "pluto", pid, str(pluto.log)))

    def load_gateway(host: str) -> None:
        pluto = daemons[host]
        partner = site.partners[next(e.id for e in plan.partners.values() if e.gateway == host)]
        files = libreswan.kit_files(site, partner, with_psk=True)
        conf = files[f"{site.hub.id}.conf"]
        files[conf.name] = dataclasses.replace(conf, text=answering(conf.text))
        vpnfiles.write_files(files, pluto.conf_dir)
        pluto.client.reread_secrets()
        pluto.client.add(pluto.conf_dir / f"{site.hub.id}.conf", site.hub.id)

    side_by_side(run, hosts)
    step(f"pluto running on {len(hosts)} hosts")
    side_by_side(load_gateway, hosts[1:])
    step(f"conns loaded on {len(hosts) - 1} partner gateway(s)")
    # As `corridor vpn apply` does: load each partner's conn and initiate it.
    vpnfiles.apply(site, libreswan.hub_files(site, site.hub.id), hub.conf_dir, hub.client)


def answering(conf: str) -> str:
    """A partner's conn from its kit as the lab's gateways load it: answering, while the
    hub's end dials (auto=start) and dials again when the gateway goes silent
    (dpdaction=restart). Were both ends to dial, at start or each time dead peer detection
    fires on both at once, the crossed exchanges would double the IKE work, and under an
    emulated VM, where an IKE_AUTH takes longer to compute than the first retransmit
    (0.5 s), both ends keep a different IKE SA, declare each other dead a minute later,
    and cross again: the tunnel never settles."""
    return conf.replace("\tauto=start", "\tauto=add").replace(
        "\tdpdaction=restart", "\tdpdaction=clear")


def _certificates(site: Site, plan: Plan, state: State, hub: PlutoDaemon,
                  ends: dict[str, PlutoDaemon]) -> bool:
    """IKE certificates for the tunnels that use them; whether there were any."""
    users = [p for p in plan.partners if site.partners[p].tunnel.auth == "cert"]  # type: ignore[union-attr]
    if not users:
        return False
    ca = TunnelCA(host_dir(state, plan.vpn) / "tunnel-ca", f"{site.hub.name} lab tunnel CA")
    password = secrets.token_urlsafe(16)
    hub.import_ca(ca.pem)
    hub.import_p12(ca.issue(site.hub.id, _fqdn(site.hub.ike_id), password), password)
    for pid in users:
        tunnel = site.partners[pid].tunnel
        assert tunnel is not None
        ends[pid].import_ca(ca.pem)
        ends[pid].import_p12(ca.issue(pid, _fqdn(tunnel.peer_id), password), password)
    return True


def _fqdn(ike_id: str) -> str:
    if not ike_id.startswith("@"):
        raise LabError(f"the lab issues IKE certificates for @FQDN ids only, not {ike_id!r}")
    return ike_id.removeprefix("@")
