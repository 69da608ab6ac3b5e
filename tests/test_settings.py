"""The `CORRIDOR_*` knobs: parsed and checked once, when a command starts; a bad value is
one line naming the variable; importing Corridor reads none of them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corridor.settings import Settings, SettingsInvalid, env_name
from tests.support import REPO, copy_site


def run_corridor(*args: str, **knobs: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDOR_")}
    return subprocess.run([sys.executable, "-m", "corridor", *args], cwd=REPO,
                          env={**env, **knobs}, capture_output=True, text=True, timeout=60)


def test_unset_and_empty_variables_take_the_defaults() -> None:
    empty = {"CORRIDOR_TXN_WORKERS": "", "CORRIDOR_TXN_HOLD_PAYOUTS": "", "PATH": "/bin"}
    for environ in ({}, empty):
        settings = Settings.from_env(environ)
        assert settings == Settings()
        assert (settings.site, settings.data, settings.txn_store) == (None, "var", None)
        assert (settings.txn_workers, settings.txn_hold_payouts, settings.txn_lease_s) == (
            0, False, 15.0)
        assert (settings.connector_timeout_s, settings.connector_retries,
                settings.connector_backoff_s) == (10.0, 2, 0.2)
        assert (settings.payout_poll_s, settings.payout_retry_s,
                settings.payout_poll_max_s) == (30.0, 5.0, 600.0)
        assert (settings.callback_retry_for_s, settings.callback_backoff_s,
                settings.callback_backoff_max_s, settings.callback_timeout_s) == (
            86400.0, 1.0, 300.0, 10.0)


def test_set_variables_are_parsed_to_their_types() -> None:
    settings = Settings.from_env({
        "CORRIDOR_SITE": "/srv/site", "CORRIDOR_DATA": "/srv/var",
        "CORRIDOR_TXN_STORE": "postgresql://hub@db/txn", "CORRIDOR_TXN_WORKERS": "3",
        "CORRIDOR_TXN_HOLD_PAYOUTS": "1", "CORRIDOR_TXN_LEASE_S": "2.5",
        "CORRIDOR_CONNECTOR": "in-process", "CORRIDOR_CONNECTOR_RETRIES": "0",
        "CORRIDOR_CONNECTOR_BACKOFF_S": "0", "CORRIDOR_CALLBACK_RETRY_FOR_S": "3",
    })
    assert settings.site == "/srv/site" and settings.data == "/srv/var"
    assert settings.txn_store == "postgresql://hub@db/txn"
    assert (settings.txn_workers, settings.txn_hold_payouts, settings.txn_lease_s) == (
        3, True, 2.5)
    assert settings.connector == "in-process"
    assert (settings.connector_retries, settings.connector_backoff_s) == (0, 0.0)
    assert settings.callback_retry_for_s == 3.0


@pytest.mark.parametrize(("variable", "value", "line"), [
    ("CORRIDOR_TXN_WORKERS", "abc", "CORRIDOR_TXN_WORKERS='abc': expected an integer"),
    ("CORRIDOR_TXN_WORKERS", "17", "CORRIDOR_TXN_WORKERS='17': expected an integer <= 16"),
    ("CORRIDOR_CONNECTOR_RETRIES", "-1",
     "CORRIDOR_CONNECTOR_RETRIES='-1': expected an integer >= 0"),
    ("CORRIDOR_CALLBACK_TIMEOUT_S", "-1",
     "CORRIDOR_CALLBACK_TIMEOUT_S='-1': expected a number > 0.0"),
    ("CORRIDOR_TXN_LEASE_S", "0", "CORRIDOR_TXN_LEASE_S='0': expected a number > 0.0"),
    ("CORRIDOR_PAYOUT_POLL_S", "soon", "CORRIDOR_PAYOUT_POLL_S='soon': expected a number"),
    ("CORRIDOR_CONNECTOR_BACKOFF_S", "-0.1",
     "CORRIDOR_CONNECTOR_BACKOFF_S='-0.1': expected a number >= 0.0"),
    ("CORRIDOR_TXN_HOLD_PAYOUTS", "maybe",
     "CORRIDOR_TXN_HOLD_PAYOUTS='maybe': expected 1, 0, true or false"),
    ("CORRIDOR_CONNECTOR", "carrier-pigeon",
     "CORRIDOR_CONNECTOR='carrier-pigeon': expected https-json or iso20022 or in-process"),
    ("CORRIDOR_TXN_STORE", "mysql://hub:hunter2@db/txn",
     "CORRIDOR_TXN_STORE: store DSN 'mysql://hub:***@db/txn' is neither sqlite:///FILE "
     "nor postgresql://..."),
])
def test_a_bad_value_is_one_line_naming_the_variable(variable: str, value: str,
                                                      line: str) -> None:
    with pytest.raises(SettingsInvalid) as caught:
        Settings.from_env({"CORRIDOR_TXN_WORKERS": "2", variable: value})
    assert str(caught.value) == line


def test_settings_cannot_change_once_read() -> None:
    settings = Settings.from_env({"CORRIDOR_TXN_WORKERS": "2"})
    with pytest.raises(AttributeError):
        settings.txn_workers = 3  # type: ignore[misc]


@pytest.mark.parametrize(("args", "knobs", "line"), [
    (("ledger", "balances"), {"CORRIDOR_TXN_WORKERS": "abc"},
     "error: CORRIDOR_TXN_WORKERS='abc': expected an integer\n"),
    (("serve", "txn"), {"CORRIDOR_CALLBACK_TIMEOUT_S": "-5"},
     "error: CORRIDOR_CALLBACK_TIMEOUT_S='-5': expected a number > 0.0\n"),
])
def test_the_cli_stops_on_a_bad_value_with_one_line(args: tuple[str, ...], knobs: dict[str, str],
                                                    line: str, tmp_path: Path) -> None:
    site = copy_site(tmp_path)
    run = run_corridor(*args, "--site", str(site), "--data", str(tmp_path / "var"), **knobs)
    assert (run.returncode, run.stdout, run.stderr) == (2, "", line)
    assert not (tmp_path / "var").exists()


# Imports every module of corridor with an environment that fails the test on any read of a
# CORRIDOR_ variable, then runs a command: only then is the (bad) knob read and refused.
IMPORT_ALL = """
import importlib, os, pkgutil, sys

import corridor

class Poisoned(dict):
    def _check(self, key):
        if str(key).startswith("CORRIDOR_"):
            raise AssertionError(f"{key} read while importing")
    def __getitem__(self, key):
        self._check(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        self._check(key)
        return super().get(key, default)
    def __contains__(self, key):
        self._check(key)
        return super().__contains__(key)

real, os.environ = os.environ, Poisoned(os.environ)
for module in pkgutil.walk_packages(corridor.__path__, "corridor."):
    if module.name != "corridor.__main__":
        importlib.import_module(module.name)
os.environ = real
print("imported", flush=True)
from corridor.cli import main
sys.argv = ["corridor", *sys.argv[1:]]
main()
"""


def test_importing_corridor_reads_no_knob_until_a_command_runs(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRIDOR_")}
    run = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL, "site", "check", "--site", str(copy_site(tmp_path))],
        cwd=REPO, env={**env, "CORRIDOR_TXN_LEASE_S": "abc"}, capture_output=True, text=True,
        timeout=60)
    assert run.stdout == "imported\n", run.stderr
    assert (run.returncode, run.stderr) == (
        2, "error: CORRIDOR_TXN_LEASE_S='abc': expected a number\n")


def test_docs_list_every_knob_with_its_default() -> None:
    rows = {}
    for line in (REPO / "docs" / "DEVELOPING.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `CORRIDOR_") and len(cells) == 4:
            rows[cells[0].strip("`")] = cells[1]
    assert list(rows) == [env_name(name) for name in Settings.__struct_fields__]
    for variable, default in rows.items():
        if not default.startswith("unset"):  # a default that has a value parses to it
            assert Settings.from_env({variable: default.strip("`")}) == Settings(), variable
