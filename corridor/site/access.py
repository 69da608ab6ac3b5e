"""`access.yaml`: administrators, their SSH keys and TOTP enrolment, and the roles that say
which managed hosts and ports each may reach through the jump server."""

from __future__ import annotations

import base64
import binascii
import re
import struct
from pathlib import Path

from corridor.site.faults import Faults
from corridor.site.fields import Reader
from corridor.site.model import Access, AccessRole, Admin, Hub
from corridor.site.yamlines import Node

# Key types an OpenSSH client offers; the blob inside the base64 names its own type, which
# must agree with the prefix (a cheap check that catches pasted halves and typos).
_KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
_LOGIN = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


def read_access(data: object, where: Node, root: Path, hub: Hub | None, faults: Faults) -> Access:
    top = Reader(data, where, faults)
    top.allow_only("roles", "admins", "lockout")
    roles = _read_roles(top, hub, faults)
    lockout = {"failures": 5, "window_seconds": 300, "lock_seconds": 900}
    lock_r = top.sub("lockout", required=False)
    if lock_r is not None:
        lock_r.allow_only(*lockout)
        for key, hi in (("failures", 1000), ("window_seconds", 86400), ("lock_seconds", 86400)):
            value = lock_r.int(key, 1, hi, required=False)
            if value is not None:
                lockout[key] = value
    admins: dict[str, Admin] = {}
    key_owner: dict[str, str] = {}
    items = top.list("admins")
    for i, body in enumerate(items or ()):
        r = Reader(body, items.at(i), faults, "admins[]")
        r.allow_only("name", "roles", "ssh_keys", "totp", "disabled", "login")
        name = r.ident("name")
        admin_roles = r.strings("roles")
        for role in admin_roles:
            if role not in roles:
                faults.add(r.at("roles"), f"admin {name!r} has unknown role {role!r}")
        keys = r.strings("ssh_keys", required=False)
        key_list = r.data.get("ssh_keys")
        for k, key in enumerate(keys):
            at = key_list.at(k) if hasattr(key_list, "at") else r.at("ssh_keys")
            problem = ssh_key_problem(key)
            if problem:
                faults.add(at, f"admin {name!r}: {problem}")
                continue
            blob = key.split()[1]
            if blob in key_owner and key_owner[blob] != name:
                faults.add(at, f"admin {name!r}: key is also {key_owner[blob]!r}'s")
            key_owner[blob] = name or "?"
        totp = r.ref("totp", root, required=False)
        login = r.str("login", required=False)
        if login is not None and not _LOGIN.match(login):
            faults.add(r.at("login"), f"login {login!r} is not a valid account name")
            login = None
        if name is None:
            continue
        if name in admins:
            faults.add(r.at("name"), f"duplicate admin {name!r}")
            continue
        admins[name] = Admin(name, admin_roles, keys, totp, r.bool("disabled"), login)
    return Access(
        roles=roles,
        admins=admins,
        lockout_failures=lockout["failures"],
        lockout_window_seconds=lockout["window_seconds"],
        lockout_seconds=lockout["lock_seconds"],
    )


def _read_roles(top: Reader, hub: Hub | None, faults: Faults) -> dict[str, AccessRole]:
    roles: dict[str, AccessRole] = {}
    roles_r = top.sub("roles")
    if roles_r is None:
        return roles
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
        roles[name] = AccessRole(name=name, hosts=hosts)
    return roles


def ssh_key_problem(line: str) -> str | None:
    """Why `line` is not an OpenSSH public key line ("TYPE BASE64 [comment]"), or None."""
    parts = line.split()
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        return "ssh_keys items must read 'ssh-ed25519 AAAA... comment'"
    try:
        blob = base64.b64decode(parts[1], validate=True)
        (size,) = struct.unpack(">I", blob[:4])
        inner = blob[4:4 + size].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError):
        return "ssh key does not decode"
    if inner != parts[0]:
        return f"ssh key says {parts[0]} but holds {inner}"
    return None
