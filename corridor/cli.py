"""The one `corridor` command.

Each server package owns its subcommands in `corridor/<package>/cli.py`; this module only
names them. Subcommands load lazily so that `corridor --help` stays fast and one part's
imports never slow down another's.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "site": "corridor.site.cli:site",
    "serve": "corridor.serve:serve",
    "up": "corridor.serve:up",
    "demo": "corridor.demo:demo",
    "sandbox": "corridor.sandbox:sandbox",
    "bench": "corridor.bench:bench",
    "store": "corridor.txn.cli.store:store_group",
    "ledger": "corridor.txn.cli.ledger:ledger",
    "compliance": "corridor.txn.cli.compliance:compliance",
    "fx": "corridor.txn.cli.fx:fx_group",
    "transfers": "corridor.txn.cli.transfers:transfers",
    "trace": "corridor.txn.cli.trace:trace",
    "reconcile": "corridor.txn.cli.reconcile:reconcile",
    "backup": "corridor.backup.cli:backup",
    "restore": "corridor.backup.cli:restore",
    "callbacks": "corridor.txn.cli.callbacks:callbacks",
    "pki": "corridor.pki.cli:pki",
    "partner": "corridor.eig.cli:partner",
    "vpn": "corridor.net.cli:vpn",
    "firewall": "corridor.net.cli:firewall",
    "capture": "corridor.net.cli:capture",
    "jump": "corridor.jump.cli:jump",
    "rpt": "corridor.rpt.cli:rpt",
    "sim": "corridor.sim.cli:sim",
    "alerts": "corridor.monitoring.cli:alerts",
    "deploy": "corridor.deploy.cli:deploy",
    "lab": "corridor.lab.cli:lab",
}


class LazyGroup(click.Group):
    """A group whose subcommands are named as "module:attribute" and imported on use."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]  # click's keywords, passed through as given
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in self.lazy if _importable(self.lazy[name]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = self.lazy.get(cmd_name)
        if target is None or not _importable(target):
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr, None)


def _importable(target: str) -> bool:
    try:
        return importlib.util.find_spec(target.split(":")[0]) is not None
    except ModuleNotFoundError:
        return False


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="corridor")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Corridor: a cross-border remittance hub (EIG, TXN, RPT, VPN, firewall, jump)."""
    from corridor.clikit import read_settings

    # The environment's knobs, read once before any subcommand parses its options (their
    # defaults come from here); a bad value stops every command with one line.
    ctx.obj = read_settings()


def main() -> None:
    cli()
