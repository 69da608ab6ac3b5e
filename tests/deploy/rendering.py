"""What the deploy tests share: rendering through the `corridor` command, and reading
back what a bundle's units say."""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner, Result

from corridor.cli import cli

HOSTS = ("eig", "txn", "rpt", "vpn", "jump")
BIN = str(Path(sys.executable).parent / "corridor")  # an ExecStart= that exists here


def corridor(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def render(site: Path, host: str, out: Path, *more: str) -> Result:
    return corridor("deploy", "render", host, "--site", str(site), "--out", str(out),
                    "--corridor-bin", BIN, *more)


def setting(unit: Path, key: str) -> list[str]:
    """Every value a unit file gives `key`, in order."""
    pairs = (line.split("=", 1) for line in unit.read_text().splitlines()
             if "=" in line and not line.startswith("#"))
    return [value for name, value in pairs if name == key]
