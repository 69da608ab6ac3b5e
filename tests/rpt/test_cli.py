"""`corridor rpt ...` for operators: statements and reports from the store, and one clear
`error: ...` line with a non-zero exit for bad input, with nothing computed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from corridor.cli import cli


@pytest.fixture
def store(site_dir: Path, recent_history, store_for):  # type: ignore[no-untyped-def]
    site, history = recent_history
    return site_dir, store_for(site, history), history


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_settle_prints_the_statement_and_its_instructions(store) -> None:  # type: ignore[no-untyped-def]
    site, data, history = store
    day = history.end.date().isoformat()
    code, out, _ = run("rpt", "settle", "--date", day, "--site", str(site), "--data", str(data))
    assert code == 0
    assert "cut-off 18:00" in out and "hub pays MobiCash Kenya" in out
    assert "PayFast Remittances' float was debited" in out
    code, out, _ = run("rpt", "settle", "--date", day, "--partner", "islapay", "--json",
                       "--site", str(site), "--data", str(data))
    body = json.loads(out)
    assert code == 0 and body["sent"] == [] and body["received"][0]["partner"] == "islapay"


def test_report_writes_csv_for_one_partner(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    site, data, history = store
    out_file = tmp_path / "payfast.csv"
    code, _, err = run("rpt", "report", "--partner", "payfast",
                       "--from", history.start.date().isoformat(),
                       "--to", history.end.date().isoformat(), "-o", str(out_file),
                       "--site", str(site), "--data", str(data))
    assert code == 0, err
    lines = out_file.read_text().splitlines()
    assert lines[0].startswith("transfer_id,role,") and len(lines) > 1000
    assert f"{len(lines) - 1} transfers written" in err


def test_compliance_flags_the_structuring_senders(store) -> None:  # type: ignore[no-untyped-def]
    site, data, history = store
    code, out, _ = run("rpt", "compliance", "--from", history.start.date().isoformat(),
                       "--to", history.end.date().isoformat(), "--site", str(site),
                       "--data", str(data))
    assert code == 0 and len(json.loads(out)["structuring"]) == 2


@pytest.mark.parametrize(("args", "message"), [
    (("settle", "--date", "2026-02-30"), "error: invalid_date: date '2026-02-30' is not a date"),
    (("settle", "--date", "2999-01-01"), "error: period_in_future: business day 2999-01-01"),
    (("settle", "--date", "2026-01-01", "--partner", "ghost"), "error: unknown_partner"),
    (("report", "--partner", "ghost", "--from", "2026-01-01", "--to", "2026-01-02"),
     "error: unknown_partner: unknown partner 'ghost'"),
    (("report", "--partner", "payfast", "--from", "2026-01-05", "--to", "2026-01-02"),
     "error: invalid_period"),
    (("compliance", "--from", "2999-01-01", "--to", "2999-01-02"), "error: period_in_future"),
])
def test_bad_input_is_one_clear_line(store, args, message) -> None:  # type: ignore[no-untyped-def]
    site, data, _ = store
    before = sorted((p.name, p.stat().st_size) for p in data.rglob("*"))
    code, out, err = run("rpt", *args, "--site", str(site), "--data", str(data))
    assert code != 0 and out == ""
    assert err.startswith(message) and err.count("\n") == 1 and "Traceback" not in err
    assert sorted((p.name, p.stat().st_size) for p in data.rglob("*")) == before


@pytest.mark.parametrize("args", [
    ("settle", "--date", "2026-01-01"),
    ("report", "--partner", "payfast", "--from", "2026-01-01", "--to", "2026-01-02"),
    ("compliance", "--from", "2026-01-01", "--to", "2026-01-02"),
    ("verify", "--date", "2026-01-01"),
], ids=lambda args: args[0])
def test_missing_store_is_refused_and_nothing_made(site_dir: Path, tmp_path: Path,
                                                    args: tuple[str, ...]) -> None:
    typo = tmp_path / "typo"
    code, out, err = run("rpt", *args, "--site", str(site_dir), "--data", str(typo))
    assert code == 1 and out == ""
    assert err == (f"error: no RPT store at {typo / 'rpt.duckdb'}; point --data (or "
                   "CORRIDOR_DATA) at the data directory of a running hub\n")
    assert not typo.exists()
