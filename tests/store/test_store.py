"""The store on both SQLite and PostgreSQL: migrations, group commit, refusals."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from corridor.core.errors import Conflict
from corridor.core.money import Money
from corridor.site import load_site
from corridor.store import Writer, commit_group, connect, migrate, open_store
from corridor.store import reads as q
from corridor.store.migrate import available
from corridor.store.rows import EntryRow, columns
from corridor.txn.commands.floats import Fund
from tests.support import copy_site, wait_for


def test_migrations_apply_once_and_are_recorded(dsn: str, tmp_path: Path) -> None:
    conn = connect(dsn, tmp_path)
    try:
        versions = [v for v, _ in available()]
        assert versions[:6] == [1, 2, 3, 4, 5, 6]
        assert migrate(conn) == versions
        assert migrate(conn) == []
        assert conn.query("SELECT version FROM schema_version ORDER BY version") == [
            (v,) for v in versions]
    finally:
        conn.close()


def test_a_refused_command_leaves_no_trace_and_spares_its_batch(dsn: str, tmp_path: Path) -> None:
    site = load_site(copy_site(tmp_path))
    payfast = site.partners["payfast"]
    now = datetime.now(UTC)
    conn = open_store(dsn, tmp_path)
    try:
        out = commit_group(conn, [
            Fund(payfast, Money(1000_00, "INR"), "dep-1", now),
            Fund(payfast, Money(5_00, "INR"), "dep-1", now),  # same bank reference again
            Fund(payfast, Money(250_00, "INR"), "dep-2", now),
        ])
        assert out[0].error is None and out[2].error is None
        assert isinstance(out[1].error, Conflict) and out[1].error.code == "duplicate_reference"
        balances = {a: (p, n) for a, _, p, n in q.balances(conn)}
        assert balances["float:payfast:INR"] == (1250_00, 0)
        assert [e[2] for e in q.events(conn, 0, 10)] == ["ledger.funded", "ledger.funded"]
    finally:
        conn.close()


def test_writer_commits_many_commands_per_transaction(dsn: str, tmp_path: Path) -> None:
    site = load_site(copy_site(tmp_path))
    payfast = site.partners["payfast"]
    open_store(dsn, tmp_path).close()
    writer = Writer(lambda: connect(dsn, tmp_path))
    writer.start()

    async def fund_many() -> list[object]:
        now = datetime.now(UTC)
        return await asyncio.gather(*(
            writer.submit(Fund(payfast, Money(1_00, "INR"), f"dep-{i}", now)) for i in range(300)
        ))

    try:
        results = asyncio.run(fund_many())
    finally:
        writer.stop()
    assert len(results) == 300
    # Submitted in one turn of the event loop, they reach the writer together: one commit.
    assert writer.groups == 1
    conn = connect(dsn, tmp_path)
    try:
        balances = {a: p for a, _, p, _ in q.balances(conn)}
        assert balances["float:payfast:INR"] == 300_00
        seqs = [e[0] for e in q.events(conn, 0, 1000)]
        assert seqs == sorted(seqs) and len(seqs) == 300
    finally:
        conn.close()


def test_the_sqlite_wal_is_checkpointed_while_the_writer_runs(tmp_path: Path) -> None:
    """The writer's commits leave checkpoints to a thread of their own; committed rows
    must still reach the database file while the writer runs, not only at shutdown."""
    site = load_site(copy_site(tmp_path))
    payfast = site.partners["payfast"]
    dsn = "sqlite:///txn.db"
    open_store(dsn, tmp_path).close()
    writer = Writer(lambda: connect(dsn, tmp_path))
    writer.start()

    def in_database_file() -> int:
        # immutable=1 reads the main file only, ignoring the WAL: what a checkpoint copied.
        # It also tells SQLite nobody writes the file, so a read that races a checkpoint can
        # see a page half copied: that read counts as "not yet" and is asked again.
        db = sqlite3.connect(f"file:{tmp_path / 'txn.db'}?mode=ro&immutable=1", uri=True)
        try:
            return int(db.execute("SELECT COUNT(*) FROM fundings").fetchone()[0])
        except sqlite3.DatabaseError:
            return -1
        finally:
            db.close()

    async def fund_many() -> None:
        now = datetime.now(UTC)
        await asyncio.gather(*(
            writer.submit(Fund(payfast, Money(1_00, "INR"), f"dep-{i}", now)) for i in range(300)
        ))

    try:
        asyncio.run(fund_many())
        wait_for(lambda: in_database_file() == 300, timeout=10, what="a WAL checkpoint")
    finally:
        writer.stop()


def test_bulk_inserts_keep_every_row_its_values_and_order(dsn: str, tmp_path: Path) -> None:
    # 301 rows: several multi-row statements of different sizes on SQLite.
    rows = [EntryRow(f"j{i}", None if i % 3 else f"t{i}", "reserve", "pending",
                     f"float:p{i}:INR", "INR", -(10**15) + i if i % 2 else i * 7,
                     f"2026-11-25T10:00:{i % 60:02d}.000Z")
            for i in range(301)]
    conn = open_store(dsn, tmp_path)
    try:
        with conn.write():
            conn.insert_rows(EntryRow, rows)
        stored = conn.query(f"SELECT {', '.join(columns(EntryRow))} FROM entries ORDER BY id")
        assert [EntryRow(*r) for r in stored] == rows
    finally:
        conn.close()
