"""`access.yaml`: administrators, their SSH keys and TOTP enrolment, and the roles that say
which managed hosts and ports each may reach through the jump server."""

from __future__ import annotations

from pathlib import Path

from corridor.site.faults import Faults
from corridor.site.fields import Reader
from corridor.site.model import Access, Admin, Hub, Role_
from corridor.site.yamlines import Node


def read_access(data: object, where: Node, root: Path, hub: Hub | None, faults: Faults) -> Access:
    top = Reader(data, where, faults)
    top.allow_only("roles", "admins")
    roles: dict[str, Role_] = {}
    roles_r = top.sub("roles")
    if roles_r is not None:
        for name, body in roles_r.data.items():
            role_r = Reader(body, roles_r.at(name), faults, f"roles.{name}")
            role_r.allow_only("hosts")
            hosts: dict[str, tuple[int, ...]] = {}
            hosts_r = role_r.sub("hosts")
            if hosts_r is not None:
                for host, ports in hosts_r.data.items():
                    if hub is not None and hub.host(host) is None:
                        faults.add(hosts_r.at(host), f"role {name!r} names unknown host {host!r}")
                    ok = isinstance(ports, list) and all(
                        isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536
                        for p in ports
                    )
                    if not ok:
                        faults.add(hosts_r.at(host), f"ports for {host!r} must be a list of ports")
                        continue
                    hosts[host] = tuple(ports)
            roles[name] = Role_(name=name, hosts=hosts)
    admins: dict[str, Admin] = {}
    items = top.list("admins")
    for i, body in enumerate(items or ()):
        r = Reader(body, items.at(i), faults, "admins[]")
        r.allow_only("name", "roles", "ssh_keys", "totp", "disabled")
        name = r.ident("name")
        admin_roles = r.strings("roles")
        for role in admin_roles:
            if role not in roles:
                faults.add(r.at("roles"), f"admin {name!r} has unknown role {role!r}")
        keys = r.strings("ssh_keys", required=False)
        totp = r.ref("totp", root, required=False)
        if name is None:
            continue
        if name in admins:
            faults.add(r.at("name"), f"duplicate admin {name!r}")
            continue
        admins[name] = Admin(name, admin_roles, keys, totp, r.bool("disabled"))
    return Access(roles=roles, admins=admins)

