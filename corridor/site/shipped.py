"""The demo site shipped with the package (`corridor/site/demo/`, package data), and fresh
copies of a site for whatever builds a world of its own: the demo, the benches, the
simulators' world and the tests. They find it here wherever they are started, and work on
a copy: the shipped directory is only ever read."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path


def demo_site() -> Path:
    """The shipped demo site's directory. `corridor.site` is a regular package unpacked on
    disk (wheels are installed as files), so its resources are plain paths."""
    return Path(str(files("corridor.site") / "demo"))


def copy_site(target: Path, source: Path | None = None) -> Path:
    """A writable copy of `source` (the shipped demo site when None) at `target`, replacing
    what was there, without key material: pki/ and secrets/ belong to one site only."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source or demo_site(), target,
                    ignore=shutil.ignore_patterns("pki", "secrets"))
    return target


def free_demo_ports() -> dict[str, int]:
    """A free port for every listener of the demo site and every partner it has (read from
    its partner files, so a partner added there moves too), for `relocate`: what a world,
    a sandbox or a rig of its own on this host listens on."""
    from corridor.ports import free_port
    from corridor.site.loader import LISTENERS

    partners = sorted(p.stem for p in (demo_site() / "partners").glob("*.yaml"))
    return {name: free_port() for name in (*LISTENERS, *partners)}
