"""`corridor backup` and `corridor restore`: a snapshot taken while the store is written is
consistent; a damaged or partial backup, and a place that already holds a store, are refused
with one line and nothing written."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from corridor.cli import cli
from corridor.core.money import Money
from corridor.site import load_site
from corridor.store import commit_group, connect, open_store
from corridor.store import reads as q
from corridor.store.migrate import available
from corridor.txn.commands.floats import Fund
from tests.backup.conftest import corridor, schema_of, tree
from tests.support import copy_site, wait_for


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def fund(dsn: str, data: Path, site_dir: Path, count: int) -> None:
    payfast = load_site(site_dir).partners["payfast"]
    conn = open_store(dsn, data)
    try:
        for n in range(count):
            out = commit_group(conn, [Fund(payfast, Money(1_00, "INR"), f"dep-{n}",
                                        datetime.now(UTC))])
            assert out[0].error is None
    finally:
        conn.close()


def test_a_backup_taken_while_the_store_is_written_restores_a_consistent_ledger(
        dsn: str, restore_dsn: str, tmp_path: Path) -> None:
    site_dir = copy_site(tmp_path)
    payfast = load_site(site_dir).partners["payfast"]
    data, backup, restored = tmp_path / "var", tmp_path / "backup", tmp_path / "restored"
    open_store(dsn, data).close()
    written, stop, failed = [0], threading.Event(), []

    def deposit() -> None:  # one commit per deposit: an event, a journal, two balances
        conn = connect(dsn, data)
        try:
            while not stop.is_set():
                out = commit_group(conn, [Fund(payfast, Money(1_00, "INR"), f"dep-{written[0]}",
                                            datetime.now(UTC))])
                if out[0].error is not None:
                    failed.append(out[0].error)
                    return
                written[0] += 1
        finally:
            conn.close()

    writer = threading.Thread(target=deposit)
    writer.start()
    try:
        wait_for(lambda: written[0] >= 50 or failed, timeout=30, what="deposits being written")
        before = written[0]
        took = corridor("backup", "--site", site_dir, "--data", data, "--store", dsn,
                        "--to", backup)
        after = written[0]
        wait_for(lambda: written[0] > after + 20 or failed, timeout=30,
                 what="deposits written after the backup")
    finally:
        stop.set()
        writer.join()
    assert not failed
    assert took.returncode == 0, took.stderr
    assert f"into {backup}" in took.stdout
    manifest = json.loads((backup / "manifest.json").read_text())
    figures = manifest["figures"]
    # The snapshot fell inside the stream of commits, which went on after it.
    assert before <= figures["events"] <= after < written[0]
    assert manifest["store"]["kind"] == dsn.split(":")[0]
    assert manifest["store"]["schema_version"] == available()[-1][0]  # the newest migration
    assert {f["path"] for f in manifest["files"]} == {
        "txn.db" if dsn.startswith("sqlite") else "txn.dump"}
    assert not any(name.startswith(("pki", "secrets")) for name in manifest["site"])

    done = corridor("restore", "--site", site_dir, "--data", restored, "--store", restore_dsn,
                    "--from", backup)
    assert done.returncode == 0, done.stderr
    verify = corridor("ledger", "verify", "--site", site_dir, "--data", restored,
                      "--store", restore_dsn)
    assert (verify.returncode, verify.stdout.strip()) == (0, "ledger ok"), verify.stderr
    conn = connect(restore_dsn, restored)
    try:
        events = q.events(conn, 0, 100_000)
        balances = {a: p for a, _, p, _ in q.balances(conn)}
    finally:
        conn.close()
    # Every deposit of the snapshot is whole in it, and none of those after it.
    assert len(events) == figures["events"]
    assert events[-1][0] == figures["last_event_seq"]
    assert balances["float:payfast:INR"] == figures["events"] * 1_00


@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[Path, Path]:
    """A site and a finished backup of a SQLite store holding a few deposits."""
    site_dir = copy_site(tmp_path)
    fund("sqlite:///txn.db", tmp_path / "var", site_dir, 5)
    result = invoke("backup", "--site", site_dir, "--data", tmp_path / "var",
                    "--store", "sqlite:///txn.db", "--to", tmp_path / "backup")
    assert result.exit_code == 0, result.output
    return site_dir, tmp_path / "backup"


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:4096])


@pytest.mark.parametrize(("damage", "said"), [
    (flip_a_byte, "txn.db does not match its SHA-256 in the manifest"),
    (truncate, "txn.db is 4096 bytes; the manifest says"),
    (Path.unlink, "txn.db is missing"),
])
def test_a_damaged_backup_is_refused_naming_the_file_and_nothing_is_written(
        backed_up: tuple[Path, Path], tmp_path: Path, damage, said: str) -> None:  # type: ignore[no-untyped-def]
    site_dir, backup = backed_up
    damage(backup / "txn.db")
    target = tmp_path / "restored"
    line = one_line_error(invoke("restore", "--site", site_dir, "--data", target,
                                 "--store", "sqlite:///txn.db", "--from", backup))
    assert line.startswith("error: backup_damaged: ") and f"{backup}/{said}" in line
    assert tree(target) == []


def test_a_partial_backup_without_its_manifest_is_refused(
        backed_up: tuple[Path, Path], tmp_path: Path) -> None:
    site_dir, backup = backed_up
    (backup / "manifest.json").unlink()
    target = tmp_path / "restored"
    line = one_line_error(invoke("restore", "--site", site_dir, "--data", target,
                                 "--store", "sqlite:///txn.db", "--from", backup))
    assert line.startswith(f"error: backup_incomplete: {backup} has no manifest.json")
    assert tree(target) == []


def test_a_restore_refuses_a_place_that_holds_a_store_or_another_engine(
        backed_up: tuple[Path, Path], tmp_path: Path) -> None:
    site_dir, backup = backed_up
    data = tmp_path / "var"
    kept = (data / "txn.db").read_bytes()
    line = one_line_error(invoke("restore", "--site", site_dir, "--data", data,
                                 "--store", "sqlite:///txn.db", "--from", backup))
    assert line == (f"error: restore_target_not_empty: {data}/txn.db already exists: restore "
                    "into a data directory (or --store) where there is no TXN store")
    assert (data / "txn.db").read_bytes() == kept
    line = one_line_error(invoke("restore", "--site", site_dir, "--from", backup,
                                 "--store", "postgresql://corridor@127.0.0.1:1/txn"))
    assert line.startswith("error: store_kind_mismatch: the backup holds a sqlite store")


def test_a_restore_notes_the_site_files_changed_since_the_backup(
        backed_up: tuple[Path, Path], tmp_path: Path) -> None:
    site_dir, backup = backed_up
    partner = site_dir / "partners" / "payfast.yaml"
    partner.write_text(partner.read_text() + "# edited after the backup\n")
    result = invoke("restore", "--site", site_dir, "--data", tmp_path / "restored",
                    "--store", "sqlite:///txn.db", "--from", backup)
    assert result.exit_code == 0, result.output
    assert result.stderr == "note: site files changed since the backup: partners/payfast.yaml\n"
    assert result.stdout.startswith("restored the backup of ")
    assert "5 events (last 5)" in result.stdout


def test_a_backup_refuses_a_non_empty_target_a_missing_store_and_an_unreadable_one(
        tmp_path: Path) -> None:
    site_dir = copy_site(tmp_path)
    data, target = tmp_path / "var", tmp_path / "backup"
    base = ("backup", "--site", site_dir, "--data", data, "--store", "sqlite:///txn.db")
    line = one_line_error(invoke(*base, "--to", target))
    assert line == (f"error: no TXN store at {data}/txn.db; point --data (or CORRIDOR_DATA) "
                    "at the data directory of a running hub")
    assert not target.exists() and not data.exists()

    data.mkdir()
    (data / "txn.db").write_bytes(b"these bytes are no database" * 200)
    line = one_line_error(invoke(*base, "--to", target))
    assert line == (f"error: cannot back up the TXN store at {data}/txn.db: file is not a "
                    "database")
    assert not target.exists()

    (data / "txn.db").unlink()
    fund("sqlite:///txn.db", data, site_dir, 1)
    target.mkdir()
    (target / "notes.txt").write_text("someone else's\n")
    line = one_line_error(invoke(*base, "--to", target))
    assert line == (f"error: backup_target_not_empty: {target} is not an empty directory: "
                    "back up into a new one")
    assert tree(target) == ["notes.txt"]


def test_a_postgresql_restore_refuses_a_dsn_that_reads_another_schema_or_holds_a_store(
        pg_dsn: str, pg_database: str, tmp_path: Path) -> None:
    import psycopg

    site_dir = copy_site(tmp_path)
    fund(pg_dsn, tmp_path, site_dir, 3)
    backup = tmp_path / "backup"
    result = invoke("backup", "--site", site_dir, "--store", pg_dsn, "--to", backup)
    assert result.exit_code == 0, result.output
    schema = schema_of(pg_dsn)
    line = one_line_error(invoke("restore", "--site", site_dir, "--store", pg_database,
                                 "--from", backup))
    assert line == (f"error: restore_wrong_schema: the backup restores into schema {schema}, "
                    f"but {pg_database} reads schema public: add "
                    f"?options=-csearch_path%3D{schema} to --store")
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s",
                            (schema,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
                            ).fetchone() == (0,)

    into = f"{pg_database}?options=-csearch_path%3D{schema}"
    assert invoke("restore", "--site", site_dir, "--store", into, "--from", backup
                  ).exit_code == 0
    line = one_line_error(invoke("restore", "--site", site_dir, "--store", into,
                                 "--from", backup))
    assert line == (f"error: restore_target_not_empty: {into} already holds a TXN store: "
                    "restore into an empty database or schema")
