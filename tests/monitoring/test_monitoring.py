"""The shipped alert rules and dashboards: promtool accepts them and their unit tests
pass; every alert is tested both ways; every metric they name is one a server exports
(read from the servers' own registries, built the way the servers build them), so a
renamed metric fails here instead of leaving an alert that can never fire."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import CollectorRegistry

from corridor.monitoring import DASHBOARDS, dashboard_text, rules_text
from corridor.monitoring.cli import alerts
from corridor.settings import Settings
from tests.support import REPO, copy_site, need_tool

HERE = Path(__file__).parent
RULES = REPO / "corridor" / "monitoring" / "alerts.yml"
# What Grafana puts in an expression before it runs it.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "6h"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    need_tool("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=120,
                          cwd=HERE)


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(rules_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    """(where, expression) of every panel target, with Grafana's variables filled in."""
    for name in DASHBOARDS:
        for panel in json.loads(dashboard_text(name))["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"{name}: unknown variable in {expr!r}"
                yield f"{name} dashboard, {panel['title']!r}", expr


def every_expr() -> list[tuple[str, str]]:
    return [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()] + list(dashboard_exprs())


def test_promtool_accepts_the_rules_file() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_every_rule_passes_its_promtool_unit_tests() -> None:
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load((HERE / "alerts_test.yml").read_text())["tests"]
    checks = [c for t in tests for c in t.get("alert_rule_test", [])]
    fires = {c["alertname"] for c in checks if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in checks if not c.get("exp_alerts")}
    names = {r["alert"] for r in alert_rules()}
    assert names - fires == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"


def test_every_alert_says_how_bad_and_what_to_do() -> None:
    for rule in alert_rules():
        assert rule.get("for"), rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert "corridor " in rule["annotations"]["description"], (
            f"{rule['alert']} names no command to run")


def test_every_dashboard_expression_is_valid_promql(tmp_path: Path) -> None:
    # promtool has no offline query parser: a recording rule per expression makes
    # `check rules` parse each with Prometheus's own parser.
    rules = [{"record": f"corridor:dashboard_check:{n}", "expr": expr}
             for n, (_, expr) in enumerate(dashboard_exprs())]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _names(node: Any) -> set[str]:
    """The metric names an expression selects."""
    p = promql_parser
    if isinstance(node, p.VectorSelector):
        assert node.name, f"a selector without a metric name: {node}"
        return {node.name}
    if isinstance(node, p.MatrixSelector):
        return _names(node.vector_selector)
    if isinstance(node, p.Call):
        return set().union(*(_names(a) for a in node.args))
    if isinstance(node, p.AggregateExpr):
        return _names(node.expr) | (_names(node.param) if node.param is not None else set())
    if isinstance(node, p.BinaryExpr):
        return _names(node.lhs) | _names(node.rhs)
    if isinstance(node, (p.UnaryExpr, p.ParenExpr, p.SubqueryExpr)):
        return _names(node.expr)
    if isinstance(node, (p.NumberLiteral, p.StringLiteral)):
        return set()
    raise AssertionError(f"an expression the name check does not know: {type(node)}")


SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "unknown": ("",),
            "stateset": ("",), "info": ("_info",),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("", "_count", "_sum", "_created")}


def _exported(registry: CollectorRegistry) -> set[str]:
    return {family.name + suffix for family in registry.collect()
            for suffix in SUFFIXES[family.type]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every sample name the servers expose, from their registries as they build them."""
    from corridor.eig.metrics import EigMetrics
    from corridor.jump.audit import JumpMetrics
    from corridor.net.fwmetrics import FirewallCollector
    from corridor.net.monitor import Monitor, TunnelCollector
    from corridor.rpt.exporter import FeedCollector, registry_for
    from corridor.site import load_site
    from corridor.txn.connectors import Connectors
    from corridor.txn.engine import Engine
    from corridor.txn.server import REGISTRY, make_app

    tmp = tmp_path_factory.mktemp("registries")
    site = load_site(copy_site(tmp))
    names = _exported(EigMetrics(site.root).registry)  # with the x509 gauges
    names |= _exported(make_app(Engine(site, "sqlite:///txn.db", tmp), Connectors(site, Settings()))
                       [REGISTRY])
    names |= _exported(registry_for(FeedCollector(None)))  # what RPT's /metrics serves
    edge = CollectorRegistry()  # `vpn monitor` and `firewall metrics` on the edge host
    edge.register(TunnelCollector(Monitor(dict, tmp / "tunnels.log")))
    edge.register(FirewallCollector())
    names |= _exported(edge)
    names |= _exported(JumpMetrics().registry)
    return names


@pytest.mark.parametrize(("where", "expr"), every_expr())
def test_every_metric_named_is_exported(exported: set[str], where: str, expr: str) -> None:
    used = _names(promql_parser.parse(expr))
    assert used, f"{where}: selects no metric"
    assert used <= exported, f"{where} uses {sorted(used - exported)}, which no server exports"


def test_the_name_check_catches_a_renamed_metric(exported: set[str]) -> None:
    renamed = "corridor_txn_unknown_payout_oldest_age_seconds > 1800"
    assert not _names(promql_parser.parse(renamed)) <= exported


def test_the_commands_print_what_is_shipped() -> None:
    runner = CliRunner()
    result = runner.invoke(alerts, ["rules"])
    assert result.exit_code == 0 and result.output == RULES.read_text()
    result = runner.invoke(alerts, ["dashboard"])
    assert result.exit_code == 0
    assert [line.split()[0] for line in result.output.splitlines()] == list(DASHBOARDS)
    for name in DASHBOARDS:
        result = runner.invoke(alerts, ["dashboard", name])
        board = json.loads(result.output)
        assert board["uid"] == f"corridor-{name}" and board["panels"]
    result = runner.invoke(alerts, ["dashboard", "nope"])
    assert result.exit_code == 2 and re.search(r"'nope' is not one of", result.output)
