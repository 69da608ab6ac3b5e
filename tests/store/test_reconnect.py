"""TXN's writer through a lost PostgreSQL connection (what a failover does to it): a group
whose connection died before COMMIT is applied on a new connection, one whose COMMIT went
through but whose answer was lost is not applied again; either way the caller gets its
answer once. The Patroni fault tests (tests/ha/test_patroni.py) do this with real kills."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from corridor.core.money import Money
from corridor.site import load_site
from corridor.store import Connection, Writer, open_store
from corridor.store.adapter import PostgresConnection
from corridor.txn.commands.floats import Fund
from tests.support import EXAMPLE_SITE


def fund(reference: str) -> Fund:
    payfast = load_site(EXAMPLE_SITE).partners["payfast"]
    return Fund(payfast, Money(100, "INR"), reference, datetime.now(UTC))


def fundings(dsn: str, tmp_path: Path, reference: str) -> int:
    conn = open_store(dsn, tmp_path)
    try:
        return int(conn.query("SELECT COUNT(*) FROM fundings WHERE reference = ?",
                              (reference,))[0][0])
    finally:
        conn.close()


def test_a_group_cut_off_before_commit_is_applied_on_a_new_connection(
        pg_dsn: str, tmp_path: Path) -> None:
    conns: list[Connection] = []

    def connect() -> Connection:
        conns.append(open_store(pg_dsn, tmp_path))
        return conns[-1]

    writer = Writer(connect)
    writer.start()
    try:
        writer.call(fund("before"))
        # The server ends the writer's session, as a primary going down does.
        first = conns[0]
        assert isinstance(first, PostgresConnection)
        pid = first.db.info.backend_pid
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        writer.call(fund("after"))
    finally:
        writer.stop()
    assert len(conns) >= 2  # it connected again
    assert fundings(pg_dsn, tmp_path, "after") == 1


class AnswerLost(PostgresConnection):
    """A connection whose first COMMIT goes through and whose answer is then lost."""

    cut = True

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with super().write() as conn:
            yield conn
        if AnswerLost.cut:
            AnswerLost.cut = False
            self.db.close()
            raise psycopg.OperationalError("server closed the connection unexpectedly")


def test_a_group_committed_before_its_answer_was_lost_is_not_applied_again(
        pg_dsn: str, tmp_path: Path) -> None:
    open_store(pg_dsn, tmp_path).close()  # the schema, once
    writer = Writer(lambda: AnswerLost(pg_dsn))
    writer.start()
    try:
        # Applied again, the same funding reference would be refused as a duplicate.
        writer.call(fund("once"))
    finally:
        writer.stop()
    assert not AnswerLost.cut
    assert fundings(pg_dsn, tmp_path, "once") == 1
