"""The lab's own copy of the site: the operator's site with every address moved onto the
lab's hosts, and fresh key material, so that the servers in the lab run from a site that
says where everything is, as on separate machines, and the operator's keys stay where
they are.

In the copy: hub.yaml's listeners and `hosts[].address` are the lab hosts' addresses; a
receive partner's endpoint and a send partner's callback URL point at its application's
address; `corridor pki bootstrap` issues everything; EIG's certificate also names the
partners' faces (the addresses partners reach EIG at through their tunnels); each admin
gets a key pair on the desk and a TOTP enrolment.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import yaml

from corridor.jump import totp
from corridor.jump.sshd import keygen
from corridor.lab.plan import Plan
from corridor.pki.authority import load_ca, server_names
from corridor.pki.bootstrap import bootstrap
from corridor.pki.issue import issue, write_issued
from corridor.pki.layout import Layout
from corridor.site import load_site
from corridor.site.edit import SiteEdit
from corridor.site.model import Site

SITE_FILES = ("hub.yaml", "access.yaml", "partners", "sanctions")
LISTENER_HOST = {"eig": "eig", "eig_internal": "eig", "txn": "txn", "rpt": "rpt",
                 "jump": "jump"}


def make(site: Site, plan: Plan, dest: Path, desk_keys: Path) -> Site:
    """Write the lab's site at `dest` and the admins' desk keys under `desk_keys`."""
    dest.mkdir(parents=True)
    for name in SITE_FILES:
        src = site.root / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        elif src.is_file():
            shutil.copy2(src, dest / name)
    edit = SiteEdit(dest)
    _move_hub(edit, plan)
    for end in plan.partners.values():
        partner = site.partners[end.id]
        for key in ("endpoint", "callback_url"):
            url = getattr(partner, key)
            if url:
                parts = urlsplit(url)
                moved = parts._replace(netloc=f"{end.app_addr}:{parts.port or 443}")
                edit.set(f"partners/{end.id}.yaml", (key,), urlunsplit(moved))
    edit.commit()
    _admins(dest, desk_keys)
    lab_site = load_site(dest)
    bootstrap(lab_site)
    _eig_faces(lab_site, plan)
    return load_site(dest)


def _move_hub(edit: SiteEdit, plan: Plan) -> None:
    """Listeners and managed hosts at the lab addresses of their hosts."""
    hub = edit.document("hub.yaml")
    for name in hub.get("listen", {}):
        host = LISTENER_HOST.get(name)
        if host in plan.hosts:
            edit.set("hub.yaml", ("listen", name, "host"), str(plan.address(host)))
    for i, h in enumerate(hub.get("hosts", [])):
        edit.set("hub.yaml", ("hosts", i, "address"), str(plan.address(h["name"])))


def _admins(dest: Path, desk_keys: Path) -> None:
    path = dest / "access.yaml"
    if not path.is_file():
        return
    access = yaml.safe_load(path.read_text())
    desk_keys.mkdir(parents=True, exist_ok=True)
    for admin in access.get("admins", []):
        if admin.get("disabled"):
            continue
        admin["ssh_keys"] = [keygen(desk_keys / admin["name"], f"{admin['name']}@desk")]
    path.write_text(yaml.safe_dump(access, sort_keys=False))
    for admin in load_site(dest).access.admins.values():
        if admin.totp_file is not None and not admin.disabled:
            totp.enroll(admin, "Corridor lab")


def _eig_faces(site: Site, plan: Plan) -> None:
    layout = Layout(site.root)
    ca = load_ca(layout.hub_ca, "hub CA")
    names = (*server_names(site, "eig"), *(str(e.face) for e in plan.partners.values()))
    write_issued(issue(ca, "eig", server_names=tuple(dict.fromkeys(names)), client=True,
                       server=True), *layout.hub("eig"))


def authorized_keys(site: Site, desk_keys: Path, bastion_key: str) -> list[str]:
    """What every hub host's sshd trusts: the bastion, and each admin's desk key (for
    ProxyJump, where the admin's own client logs into the host through the bastion)."""
    keys = [bastion_key]
    for admin in site.access.admins.values():
        pub = desk_keys / f"{admin.name}.pub"
        if pub.is_file():
            keys.append(pub.read_text().strip())
    return keys
