"""`corridor alerts ...`: print the Prometheus rules and the Grafana dashboards."""

from __future__ import annotations

import click

from corridor.monitoring import DASHBOARDS, dashboard_text, rules_text


@click.group()
def alerts() -> None:
    """Prometheus alerting rules and Grafana dashboards for the hub's servers."""


@alerts.command()
def rules() -> None:
    """Print the Prometheus rules file (load it with `rule_files:`)."""
    click.echo(rules_text(), nl=False)


@alerts.command()
@click.argument("name", type=click.Choice(sorted(DASHBOARDS)), required=False)
def dashboard(name: str | None) -> None:
    """Print the Grafana dashboard (JSON) of NAME; without NAME, list them."""
    if name is None:
        for each in DASHBOARDS:
            click.echo(f"{each:<6} {DASHBOARDS[each]}")
        return
    click.echo(dashboard_text(name), nl=False)
