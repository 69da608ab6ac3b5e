"""`corridor serve SERVER` and `corridor up` (every server on one host)."""

from __future__ import annotations

import click

from corridor.cli import LazyGroup

SERVERS = {
    "eig": "corridor.eig.cli:serve",
    "txn": "corridor.txn.cli:serve",
    "rpt": "corridor.rpt.cli:serve",
    "jump": "corridor.jump.cli:serve",
}


@click.group(cls=LazyGroup, lazy=SERVERS)
def serve() -> None:
    """Run one server of the hub in the foreground."""


@click.command()
def up() -> None:
    """Run every server of the hub on this host (the embedded default)."""
    from corridor.embedded import run_all

    run_all()
