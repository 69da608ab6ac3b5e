"""The operator CLI beside the engine: funding, balances, verify, compliance decisions
(the demo is tested end to end in tests/e2e)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from click.testing import CliRunner

from corridor.cli import cli
from corridor.store import connect
from corridor.txn.engine import Engine
from tests.support import copy_site
from tests.txn.rig import quote_body, transfer_body

# Every operator command that opens TXN's store (all but `serve txn`).
OPERATOR_COMMANDS = [
    ("ledger", "verify"), ("ledger", "balances"),
    ("ledger", "fund", "payfast", "1000.00", "--reference", "X"),
    ("transfers", "list"), ("transfers", "show", "T1"), ("transfers", "cancel", "T1"),
    ("compliance", "list"), ("compliance", "release", "T1", "--analyst", "ana"),
    ("reconcile",), ("reconcile", "pending"), ("reconcile", "resolve", "T1", "--note", "n"),
    ("callbacks", "list"), ("callbacks", "replay", "1"), ("trace", "T1"),
]


def corridor(engine: Engine, *args: str) -> tuple[int, str]:
    base = ["--site", str(engine.site.root), "--data", str(engine.data_dir),
            "--store", engine.dsn]
    result = CliRunner().invoke(cli, [*args, *base])
    return result.exit_code, result.output


def test_fund_hold_release_and_verify_from_the_cli(engine: Engine) -> None:
    assert corridor(engine, "ledger", "fund", "payfast", "50000.00", "--reference", "B-1")[0] == 0
    code, out = corridor(engine, "ledger", "fund", "payfast", "5.001", "--reference", "B-2")
    assert code != 0 and out.strip().startswith("error: invalid_amount")
    code, out = corridor(engine, "ledger", "fund", "payfast", "1.00", "--reference", "B-1")
    assert code != 0 and "duplicate_reference" in out

    async def held() -> str:
        q = json.loads((await engine.quote("payfast", "q", quote_body())).body)
        r = await engine.create_transfer("payfast", "t", transfer_body(
            q["id"], sender="Hasan Alfaridi"))
        return json.loads(r.body)["id"]

    tid = asyncio.run(held())
    code, out = corridor(engine, "compliance", "list")
    assert code == 0 and tid in out
    code, out = corridor(engine, "compliance", "release", tid, "--analyst", "ana",
                         "--note", "different person")
    assert (code, out.strip()) == (0, f"{tid}: ACCEPTED")
    code, out = corridor(engine, "compliance", "reject", tid, "--analyst", "ana")
    assert code != 0 and "invalid_state" in out
    code, out = corridor(engine, "ledger", "balances")
    assert code == 0 and "48945.00" in out  # 50000.00 less 1055.00 reserved
    assert corridor(engine, "ledger", "verify") == (0, "ledger ok\n")
    conn = connect(engine.dsn, engine.data_dir)
    try:  # a journal that does not balance, written behind the engine's back
        conn.execute("INSERT INTO entries (journal_id, transfer_id, kind, state, account, "
                     "currency, amount, at) VALUES ('bad', NULL, 'fund', 'posted', "
                     "'revenue:fee:INR', 'INR', 1, '2026-01-01T00:00:00.000Z')")
    finally:
        conn.close()
    code, out = corridor(engine, "ledger", "verify")
    assert code == 1 and "journal bad does not balance: INR +1" in out


@pytest.mark.parametrize("args", OPERATOR_COMMANDS, ids="-".join)
def test_an_operator_command_refuses_a_data_directory_without_a_store(
        args: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRIDOR_TXN_STORE", raising=False)
    site = copy_site(tmp_path)
    typo = tmp_path / "typo"
    typo.mkdir()
    result = CliRunner().invoke(cli, [*args, "--site", str(site), "--data", str(typo)])
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (f"error: no TXN store at {typo / 'txn.db'}; point --data (or "
                             "CORRIDOR_DATA) at the data directory of a running hub\n")
    assert list(typo.iterdir()) == []


def test_a_missing_data_directory_named_by_the_environment_stays_missing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRIDOR_TXN_STORE", raising=False)
    monkeypatch.setenv("CORRIDOR_DATA", str(tmp_path / "nowhere"))
    result = CliRunner().invoke(cli, ["ledger", "fund", "payfast", "1000.00", "--reference",
                                      "X", "--site", str(copy_site(tmp_path))])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no TXN store at {tmp_path / 'nowhere' / 'txn.db'};")
    assert not (tmp_path / "nowhere").exists()


def test_store_init_makes_the_store_that_operator_commands_then_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRIDOR_TXN_STORE", raising=False)
    base = ["--site", str(copy_site(tmp_path)), "--data", str(tmp_path / "var")]
    for _ in range(2):  # a second init finds the store up to date
        result = CliRunner().invoke(cli, ["store", "init", *base])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith(f"TXN store ready at {tmp_path / 'var' / 'txn.db'} ")
    result = CliRunner().invoke(cli, ["ledger", "fund", "payfast", "1000.00", "--reference",
                                      "X", *base])
    assert result.exit_code == 0 and "funded payfast: 1000.00 INR" in result.stdout


def test_an_absolute_store_file_that_is_absent_points_at_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRIDOR_TXN_STORE", raising=False)
    missing = tmp_path / "elsewhere" / "txn.db"
    result = CliRunner().invoke(cli, ["ledger", "verify", "--site", str(copy_site(tmp_path)),
                                      "--data", str(tmp_path), "--store", f"sqlite:///{missing}"])
    assert result.exit_code == 1
    assert result.stderr == (f"error: no TXN store at {missing}; point --store (or "
                             "CORRIDOR_TXN_STORE) at the store of a running hub\n")
    assert not missing.parent.exists()


def test_a_file_that_holds_no_store_is_refused_and_left_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRIDOR_TXN_STORE", raising=False)
    (tmp_path / "txn.db").write_bytes(b"")
    result = CliRunner().invoke(cli, ["transfers", "list", "--site", str(copy_site(tmp_path)),
                                      "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: no TXN store at {tmp_path / 'txn.db'};")
    assert (tmp_path / "txn.db").read_bytes() == b""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site", "txn.db"]


def test_an_empty_postgresql_schema_is_refused_and_left_empty(
        pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    monkeypatch.delenv("CORRIDOR_TXN_STORE", raising=False)
    # A password in the DSN (trust authentication never asks for it) must not be shown.
    parts = urlsplit(pg_dsn)
    secret = parts.password or "not-for-the-screen"
    user, _, hosts = parts.netloc.rpartition("@")
    dsn = urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:{secret}@{hosts}"))
    result = CliRunner().invoke(cli, ["ledger", "fund", "payfast", "1000.00", "--reference",
                                      "X", "--site", str(copy_site(tmp_path)),
                                      "--data", str(tmp_path), "--store", dsn])
    assert result.exit_code == 1
    assert result.stderr == (f"error: no TXN store at {dsn.replace(secret, '***')}; point "
                             "--store (or CORRIDOR_TXN_STORE) at the store of a running hub\n")
    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute("SELECT count(*) FROM information_schema.tables "
                              "WHERE table_schema = current_schema()").fetchone()
    assert tables == (0,)


def test_a_password_in_a_store_dsn_is_never_shown(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ledger", "verify", "--site", str(copy_site(tmp_path)),
                                      "--data", str(tmp_path),
                                      "--store", "host=db user=hub password=hunter2"])
    assert result.exit_code == 1 and "password=***" in result.stderr
    assert "hunter2" not in result.output
