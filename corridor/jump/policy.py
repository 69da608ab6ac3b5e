"""Who may go where: the jump server's policy, built from the site's hosts and access.yaml.

`Policy` answers the questions the SSH hooks ask (is this key this admin's? may this admin
reach that host and port?). `PolicySource` re-reads the site when access.yaml or hub.yaml
changes, so that revoking an admin takes effect for the next connection without a restart;
a faulty site never replaces the last good policy.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from corridor.filestamp import stamps
from corridor.site import SiteInvalid, load_site
from corridor.site.model import Access, Admin, Host, Hub


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # why, in words the audit log and the admin can read
    host: Host | None = None
    port: int = 0


class Policy:
    def __init__(self, hub: Hub, access: Access) -> None:
        self.hub = hub
        self.access = access
        self._keys: dict[str, tuple[str, ...]] = {
            a.name: tuple(k.split()[1] for k in a.ssh_keys) for a in access.admins.values()
        }

    def admin(self, name: str) -> Admin | None:
        return self.access.admins.get(name)

    def key_matches(self, admin: Admin, public_data: bytes) -> bool:
        """Whether the SSH public key blob is one of the admin's keys in access.yaml."""
        return base64.b64encode(public_data).decode() in self._keys.get(admin.name, ())

    def reachable(self, admin: Admin) -> dict[str, tuple[int, ...]]:
        """Host name -> ports the admin's roles grant (the union over the roles)."""
        out: dict[str, set[int]] = {}
        for role_name in admin.roles:
            role = self.access.roles.get(role_name)
            for host, ports in (role.hosts if role else {}).items():
                out.setdefault(host, set()).update(ports)
        return {h: tuple(sorted(p)) for h, p in sorted(out.items())}

    def reach(self, admin: Admin, dest: str, port: int) -> Decision:
        """May `admin` open a connection to `dest` (a host name or its address) on `port`?"""
        if admin.disabled:
            return Decision(False, "admin is disabled")
        hosts = [h for h in self.hub.hosts if h.name == dest] or [
            h for h in self.hub.hosts if h.address == dest
        ]
        if not hosts:
            return Decision(False, f"{dest} is not a managed host")
        grants = self.reachable(admin)
        for host in hosts:
            if port in grants.get(host.name, ()):
                return Decision(True, f"role grants {host.name}:{port}", host, port)
        if not any(h.name in grants for h in hosts):
            return Decision(False, f"{hosts[0].name} is outside the admin's roles")
        return Decision(False, f"port {port} on {hosts[0].name} is not granted")


class PolicySource:
    """The current policy, reloaded when the files it comes from change."""

    WATCHED = ("access.yaml", "hub.yaml")

    def __init__(self, site_root: Path) -> None:
        self.root = Path(site_root)
        self._stamp: tuple[object, ...] = ()
        self._policy: Policy | None = None
        self.faults: list[str] = []  # faults of the newest version that was refused

    def _stat(self) -> tuple[object, ...]:
        return stamps(self.root / name for name in self.WATCHED)

    def current(self) -> tuple[Policy, list[str] | None]:
        """The policy to decide with, and the faults of a refused reload (None if none)."""
        stamp = self._stat()
        if stamp == self._stamp and self._policy is not None:
            return self._policy, None
        self._stamp = stamp
        try:
            site = load_site(self.root)
        except SiteInvalid as exc:
            self.faults = [str(f) for f in exc.faults]
            if self._policy is None:
                raise
            return self._policy, self.faults
        self._policy = Policy(site.hub, site.access)
        self.faults = []
        return self._policy, None
