"""Writes one host's bundle: a tree laid out as the host's root directory, holding its
units, environment file, user and ownership rules, and its copy of the site.

The copy holds the operator's files (hub.yaml, partners/, access.yaml, sanctions/) and,
of pki/ and secrets/, only what `roles.grants` gives the host: secrets 0600 in 0700
directories, certificates and CRLs 0644. hub.yaml's store DSN loses its password on every
host; TXN's environment file carries it. The tree is written beside `--out` and renamed
into place once complete, so a refusal or a crash leaves nothing half-written.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from corridor.deploy import units
from corridor.deploy.errors import DeployError
from corridor.deploy.roles import Grant, Role, grants, role_of
from corridor.site import Site, SiteInvalid, load_site
from corridor.site.edit import set_value
from corridor.site.model import Host
from corridor.store.dsn import kind, without_password


@dataclass
class Bundle:
    host: Host
    role: Role
    out: Path
    site_files: dict[str, bool]  # site-relative name -> secret

    @property
    def secrets(self) -> list[str]:
        return sorted(name for name, secret in self.site_files.items() if secret)


def render(site: Site, host_name: str, out: Path, corridor_bin: str,
           dsn: str | None = None) -> Bundle:
    """Write `host_name`'s bundle into `out` (absent or empty); DeployError otherwise."""
    host, role = role_of(site, host_name)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DeployError(f"--out {out} is not an empty directory", code="deploy_out_not_empty")
    given = grants(site, role)
    _need(host, given)
    store = dsn or site.hub.store_txn
    kind(store)
    generated = units.texts(site, host, role, corridor_bin, store)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        files = _write(site, host, stage, given, generated)
        stage.chmod(0o755)  # the tree is unpacked over / : its top must read as / does
        os.rename(stage, out)  # replaces an empty directory in one step
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return Bundle(host, role, out, files)


def _need(host: Host, given: list[Grant]) -> None:
    missing = [g.path for g in given if g.required and not g.path.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DeployError(
            f"host {host.name} needs {missing[0]}{more}, which the site does not have: create "
            "it on the PKI operator's machine (corridor pki bootstrap) and render again",
            code="deploy_missing_secret")


def _write(site: Site, host: Host, stage: Path, given: list[Grant],
           generated: dict[str, tuple[str, int]]) -> dict[str, bool]:
    """The bundle under `stage`; returns its site files (site-relative -> secret)."""
    files: dict[str, bool] = {}
    copy = _on_host(stage, units.SITE_DIR)
    source = site.root.resolve()
    for path in _operator_files(source):
        name = str(path.relative_to(source))
        _put(copy / name, path.read_bytes(), 0o644)
        files[name] = False
    for grant in given:
        if not grant.path.is_file():
            continue
        name = str(grant.path.resolve().relative_to(source))
        _put(copy / name, grant.path.read_bytes(), 0o600 if grant.secret else 0o644)
        if grant.secret:
            (copy / name).parent.chmod(0o700)
        files[name] = grant.secret
    # The password stays in TXN's environment file; no host's hub.yaml carries it.
    if without_password(site.hub.store_txn) != site.hub.store_txn:
        set_value(copy, "hub.yaml", ("store", "txn"), without_password(site.hub.store_txn))
    try:
        load_site(copy)
    except SiteInvalid as exc:
        raise DeployError(f"host {host.name}'s copy of the site does not load: "
                          f"{exc.faults[0]}", code="deploy_site_invalid") from None
    for target, (text, mode) in generated.items():
        _put(_on_host(stage, target), text.encode("utf-8"), mode)
    return files


def _operator_files(root: Path) -> list[Path]:
    """What operators edit and every server reads; the loader reads nothing else."""
    found = [root / "hub.yaml", *sorted((root / "partners").glob("*.yaml"))]
    if (root / "access.yaml").is_file():
        found.append(root / "access.yaml")
    return found + sorted((root / "sanctions").glob("*.csv"))


def _on_host(stage: Path, path: str) -> Path:
    return stage / path.lstrip("/")


def _put(path: Path, data: bytes, mode: int) -> None:
    """Write a file with its mode from the first byte; new directories are 0755 (a secret's
    directory is made 0700 by the caller)."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        folder.chmod(0o755)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # whatever the umask
        f.write(data)
