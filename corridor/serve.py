"""`corridor serve SERVER` and `corridor up` (every server on one host)."""

from __future__ import annotations

from pathlib import Path

import click

from corridor.cli import LazyGroup
from corridor.clikit import data_option, site_option

SERVERS = {
    "eig": "corridor.eig.cli:serve",
    "txn": "corridor.txn.cli.serve:serve",
    "rpt": "corridor.rpt.cli:serve",
    "jump": "corridor.jump.cli:serve",
}


@click.group(cls=LazyGroup, lazy=SERVERS)
def serve() -> None:
    """Run one server of the hub in the foreground."""


@click.command()
@site_option
@data_option
def up(site_dir: Path, data_dir: Path) -> None:
    """Run every server of the hub on this host (the embedded default) until Ctrl-C."""
    from corridor.stack import run_all

    run_all(site_dir, data_dir)
