"""`corridor deploy render HOST --out DIR`: one host's units, environment file and copy of
the site, holding only the secrets that host may hold."""

from __future__ import annotations

from pathlib import Path

import click

from corridor.clikit import fail, friendly_errors, open_site, settings, site_option


@click.group()
def deploy() -> None:
    """Production hosts: what each host of hub.yaml runs and holds."""


@deploy.command()
@site_option
@click.argument("host")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Where to write the bundle (absent or empty): a tree to unpack at the "
                   "host's /.")
@click.option("--store", default=lambda: settings().txn_store, metavar="DSN",
              help="TXN's store DSN, password included, for TXN's environment file "
                   "(default: $CORRIDOR_TXN_STORE, else hub.yaml store.txn).")
@click.option("--corridor-bin", default="/usr/local/bin/corridor", show_default=True,
              help="Where the `corridor` command is installed on the host.")
@friendly_errors
def render(site_dir: Path, host: str, out: Path, store: str | None, corridor_bin: str) -> None:
    """Write HOST's systemd units, environment file and copy of the site into --out."""
    from corridor.deploy.bundle import render as render_bundle
    from corridor.deploy.units import install_steps

    site = open_site(site_dir)
    try:
        bundle = render_bundle(site, host, out, corridor_bin, store)
    except OSError as exc:
        fail(f"cannot write {exc.filename or out}: {exc.strerror}")
        return
    names = [f"{u.name}.service" for u in bundle.role.units]
    click.echo(f"host {host}: {bundle.role.title}, in {out}")
    click.echo(f"  units: {' '.join(names)}")
    click.echo(f"  site: {len(bundle.site_files)} files; secrets: "
               f"{' '.join(bundle.secrets) or 'none'}")
    click.echo(f"  on the host, once unpacked at /: {'; '.join(install_steps(bundle.role))}")
