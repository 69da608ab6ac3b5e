"""Corridor's monitoring kit: Prometheus alerting rules and a Grafana dashboard per server,
shipped as package data and printed by `corridor alerts` (docs/monitoring.md says how to
load them)."""

from __future__ import annotations

from importlib import resources

# name -> what the dashboard shows (corridor/monitoring/dashboards/<name>.json)
DASHBOARDS: dict[str, str] = {
    "eig": "partner gateway: requests, latency, refusals by partner and reason, certificates",
    "txn": "transaction engine: requests, group commit, UNKNOWN payouts, callbacks, floats",
    "rpt": "reporting: how far the feed lags behind TXN",
    "edge": "tunnels (vpn monitor) and the firewall (firewall metrics)",
    "jump": "SSH bastion: logins, refusals, sessions, bytes relayed",
}

_HOME = resources.files(__name__)


def rules_text() -> str:
    """The Prometheus rules file, as shipped."""
    return _HOME.joinpath("alerts.yml").read_text(encoding="utf-8")


def dashboard_text(name: str) -> str:
    """One server's Grafana dashboard (JSON), as shipped."""
    if name not in DASHBOARDS:
        raise KeyError(name)
    return _HOME.joinpath("dashboards", f"{name}.json").read_text(encoding="utf-8")
