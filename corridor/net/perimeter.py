"""The whole perimeter a site renders (every partner's tunnel and the nftables allowlist),
checked by the tools themselves and applied to whatever of it runs on this host: what
`corridor partner onboard` and `offboard` do after changing the site.

`check` asks Libreswan (`addconn --checkconfig`, `algparse`) and nftables (`nft -c`), and
commits nothing. `apply` replaces Corridor's nftables table where it is loaded and hands the
conns to pluto where it runs (`vpnfiles.apply`: only changed conns are replaced, and a
refusal puts the previous ones back); a part that is not running here is reported in one
line and left alone, since the site is the source of truth it is applied from later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from corridor.net import applylog, libreswan, nft, vpnfiles
from corridor.net import firewall as rules
from corridor.net.errors import NetError
from corridor.net.pluto import DEFAULT_CTL, Pluto
from corridor.site.model import Site

DEFAULT_IPSEC_DIR = Path("/etc/ipsec.d")


@dataclass(frozen=True, slots=True)
class Target:
    """Where the live perimeter is: nftables on the host or in `netns`, Libreswan's conn
    directory and pluto's control socket, and the hub certificate's NSS nickname (default:
    the hub id) for certificate-authenticated tunnels."""

    netns: str | None = None
    ipsec_dir: Path = DEFAULT_IPSEC_DIR
    ctlsocket: Path = DEFAULT_CTL
    hub_cert: str | None = None

    def conns(self, site: Site) -> dict[str, libreswan.ConfFile]:
        return libreswan.hub_files(site, self.hub_cert or site.hub.id)

    @property
    def firewall_at(self) -> str:
        return f"netns {self.netns}" if self.netns else "host"


@dataclass(frozen=True, slots=True)
class Applied:
    part: str  # "firewall" or "vpn"
    ok: bool
    line: str  # what was done, or why nothing was

    def __str__(self) -> str:
        return f"{self.part}: {self.line}"


def check(site: Site, target: Target) -> list[str]:
    """Every complaint Libreswan and nftables have about the perimeter `site` renders
    (Libreswan's as `partners/<id>.yaml: ...`); empty when both accept it."""
    problems: list[str] = []
    try:
        conns = target.conns(site)
        if conns:
            problems += vpnfiles.check(site, conns)
    except NetError as exc:
        problems.append(exc.detail)
    try:
        nft.check(rules.render(rules.allowlist(site)), target.netns)
    except NetError as exc:
        problems.append(exc.detail)
    return problems


def apply(site: Site, target: Target, data_dir: Path) -> list[Applied]:
    """Apply the perimeter `site` renders to the parts of it that run here."""
    return [_firewall(site, target, data_dir), _vpn(site, target, data_dir)]


def _firewall(site: Site, target: Target, data_dir: Path) -> Applied:
    where = target.firewall_at
    script = rules.render(rules.allowlist(site))
    try:
        before = nft.drift(script, target.netns)
        if before.absent:
            return Applied("firewall", True, f"table inet {rules.TABLE} is not loaded on "
                           f"{where}: nothing applied (`corridor firewall apply` loads it)")
        if before.clean:
            return Applied("firewall", True, f"{where}: no change")
        changed = before.summary()
        nft.apply(script, target.netns)
    except (NetError, OSError) as exc:
        why = _why(exc)
        applylog.record(data_dir, "firewall", where, [], ok=False, error=why)
        return Applied("firewall", False, f"{where}: not applied: {why}")
    applylog.record(data_dir, "firewall", where, changed, ok=True)
    return Applied("firewall", True, f"{where}: applied ({', '.join(changed)})")


def _vpn(site: Site, target: Target, data_dir: Path) -> Applied:
    out, pluto = target.ipsec_dir, Pluto(target.ctlsocket)
    if not pluto.running() and not _has_our_conns(out):
        return Applied("vpn", True, f"pluto is not running ({target.ctlsocket}) and {out} "
                       "holds no conn of ours: nothing applied (`corridor vpn apply` does it)")
    try:
        plan = vpnfiles.apply(site, target.conns(site), out, pluto)
    except (NetError, OSError) as exc:
        why = _why(exc)
        applylog.record(data_dir, "vpn", str(out), [], ok=False, error=why)
        return Applied("vpn", False, f"{out}: not applied: {why}")
    if not plan.changed:
        return Applied("vpn", True, f"{out}: no change")
    applylog.record(data_dir, "vpn", str(out), plan.changed, ok=True)
    loaded = "loaded in pluto" if pluto.running() else "files only, pluto is not running"
    return Applied("vpn", True, f"{out}: applied ({', '.join(plan.changed)}; {loaded})")


def _why(exc: NetError | OSError) -> str:
    """One line for the operator: the tool's complaint, or the file that could not be
    written (this runs after the site changed, so it must report, not raise)."""
    if isinstance(exc, NetError):
        return exc.detail
    return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")


def _has_our_conns(folder: Path) -> bool:
    """Whether `folder` holds a conn file `corridor vpn` wrote (a stale one must go too)."""
    if not folder.is_dir():
        return False
    for path in folder.glob("*.conf"):
        try:
            with path.open("r", encoding="utf-8", errors="replace") as fh:
                if fh.read(len(libreswan.MARKER)) == libreswan.MARKER:
                    return True
        except OSError:
            continue
    return False
