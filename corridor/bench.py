"""`corridor bench PART`: each prints one JSON object with the figures it measures."""

from __future__ import annotations

import click

from corridor.cli import LazyGroup

BENCHES = {
    "txn": "corridor.txn.bench:bench",
    "eig": "corridor.eig.bench:bench",
    "e2e": "corridor.sim.bench:bench",
    "firewall": "corridor.net.bench:bench",
    "jump": "corridor.jump.bench:bench",
    "rpt": "corridor.rpt.bench:bench",
    "ha": "corridor.deploy.bench:bench",
    "iso": "corridor.iso20022.bench:bench",
    "lab": "corridor.lab.bench:bench",
}


@click.group(cls=LazyGroup, lazy=BENCHES)
def bench() -> None:
    """Measure a part of the hub; prints one JSON object."""
