"""`corridor site ...`: check the site directory."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from corridor.clikit import site_option
from corridor.site.loader import check_site


@click.group()
def site() -> None:
    """The site directory: hub, partners, access, sanctions lists, PKI and secrets."""


@site.command("check")
@site_option
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
def check(site_dir: Path, path: Path | None) -> None:
    """Validate every file and the references between them.

    Prints each fault as file:line: message and exits 2 when there is any.
    """
    root = path or site_dir
    faults = check_site(root)
    for fault in faults:
        click.echo(f"{root}/{fault}")
    if faults:
        click.echo(f"{len(faults)} fault(s)", err=True)
        sys.exit(2)
    click.echo(f"{root}: ok")
