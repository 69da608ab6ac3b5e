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
