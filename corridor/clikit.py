"""Pieces every subcommand shares: the process's settings, where the site and the data
directory are, and how a site with faults is reported (file:line: message, exit 2, no stack
trace)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from corridor.settings import Settings, SettingsInvalid
from corridor.site import Site, SiteInvalid, demo_site, load_site

if TYPE_CHECKING:
    from corridor.store.adapter import NoStore


def read_settings() -> Settings:
    """This process's settings from its environment, or exit 2 with one line naming the
    variable whose value cannot be used."""
    try:
        return Settings.from_env(os.environ)
    except SettingsInvalid as exc:
        fail(str(exc), 2)
        raise


def settings() -> Settings:
    """The settings the running command started with: read by the `corridor` group before
    any subcommand (or here, on first use, by a subcommand invoked on its own)."""
    ctx = click.get_current_context()
    found = ctx.find_object(Settings)
    if found is None:
        found = read_settings()
        ctx.find_root().obj = found
    return found


def default_site() -> str:
    return settings().site or ("site" if Path("site").is_dir() else "examples/site")


site_option = click.option(
    "--site",
    "site_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=default_site,
    show_default="$CORRIDOR_SITE, else ./site, else examples/site",
    help="The site directory (the source of truth).",
)

# A bench builds its own world, so it starts from the demo site shipped with the package
# wherever it runs (not from $CORRIDOR_SITE or ./site: figures compare across hosts). It
# only reads the site, or copies it first to change anything.
bench_site_option = click.option(
    "--site",
    "site_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: str(demo_site()),
    show_default="the demo site shipped with corridor",
    help="The site to base the run on (read, or copied; never changed).",
)

data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=lambda: settings().data,
    show_default="$CORRIDOR_DATA, else ./var",
    help="Where stores, logs and runtime state live.",
)


store_option = click.option(
    "--store", "store", default=lambda: settings().txn_store, metavar="DSN",
    help="TXN store DSN (default: $CORRIDOR_TXN_STORE, else hub.yaml store.txn).",
)


def no_store_line(exc: NoStore, dsn: str) -> str:
    """What an operator command says when there is no TXN store where it looked: the place,
    and which option chooses another."""
    from corridor.store.dsn import in_data_dir

    where = ("--data (or CORRIDOR_DATA) at the data directory" if in_data_dir(dsn)
             else "--store (or CORRIDOR_TXN_STORE) at the store")
    return f"{exc}; point {where} of a running hub"


def open_site(site_dir: Path) -> Site:
    """Load the site or exit 2 with every fault as file:line: message."""
    try:
        return load_site(site_dir)
    except SiteInvalid as exc:
        site_refused(site_dir, exc)


def site_refused(site_dir: Path, exc: SiteInvalid, refused: str | None = None) -> NoReturn:
    """Every fault of the site as file:line: message, then `refused` (when given) as the
    last line; exit 2."""
    for fault in exc.faults:
        click.echo(f"{site_dir}/{fault}", err=True)
    if refused is not None:
        fail(refused, code=2)
    sys.exit(2)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into one clear line and a non-zero exit, never a traceback."""
    from corridor.core.errors import CorridorError

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CorridorError as exc:
            fail(f"{exc.code}: {exc.detail}")

    return wrapper
