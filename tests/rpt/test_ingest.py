"""Ingest counts every event of the feed exactly once, across retries and crashes, and a bad
page changes nothing."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from corridor.core.errors import InvalidInput
from corridor.rpt.history import generate
from corridor.rpt.ingest import Ingestor
from corridor.rpt.store import connect, cursor
from corridor.site import load_site
from tests.support import EXAMPLE_SITE, REPO

START = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def history():  # type: ignore[no-untyped-def]
    site = load_site(EXAMPLE_SITE)
    return generate(site, transfers=1500, start=START, days=1, page_size=400, seed=3)


def snapshot(con) -> tuple:  # type: ignore[no-untyped-def]
    return (
        cursor(con),
        con.execute("SELECT count(*), sum(send_amount), count(completed_at) FROM transfers")
        .fetchall(),
        con.execute("SELECT count(*) FROM status_changes").fetchall(),
        con.execute("SELECT count(*), sum(amount) FROM fundings").fetchall(),
        con.execute("SELECT count(*) FROM decisions").fetchall(),
    )


def test_every_event_counted_once_even_when_pages_repeat(history) -> None:  # type: ignore[no-untyped-def]
    con = connect()
    with Ingestor(con) as ing:
        for page in history.pages:
            assert ing.apply(page).counted > 0
            assert ing.apply(page).counted == 0  # the same page again: nothing new
        # An overlapping page (TXN answered from an older cursor) adds only the new part.
        assert ing.apply(history.pages[-1]).counted == 0
    (after, events), *_ = snapshot(con)
    assert events == history.events and after == history.events
    statuses = con.execute("SELECT count(*) FROM status_changes").fetchall()[0][0]
    decoded = [msgspec.json.decode(p) for p in history.pages]
    expected = sum(e["type"] == "transfer.status" for d in decoded for e in d["events"])
    assert statuses == expected
    assert con.execute("SELECT count(*) FROM transfers").fetchall()[0][0] == history.transfers


CRASH = """
import os, signal, sys
import msgspec
from corridor.rpt.ingest import Ingestor
from corridor.rpt.store import connect
pages = msgspec.json.decode(open(sys.argv[2], "rb").read())
con = connect(sys.argv[1])
ing = Ingestor(con)
for page in pages[: len(pages) // 2]:
    ing.apply(page.encode())
# Die in the middle of the next page's transaction, after some of its writes.
con.execute("BEGIN TRANSACTION")
con.execute("DELETE FROM transfers")
con.execute("UPDATE feed_cursor SET after = after + 999")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_resume_after_crash_matches_an_uninterrupted_run(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    clean = connect()
    with Ingestor(clean) as ing:
        for page in history.pages:
            ing.apply(page)

    path, pages = tmp_path / "rpt.duckdb", tmp_path / "pages.json"
    pages.write_bytes(msgspec.json.encode([p.decode() for p in history.pages]))
    proc = subprocess.run([sys.executable, "-c", CRASH, str(path), str(pages)], cwd=REPO,
                          capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-500:]

    con = connect(path)
    assert 0 < cursor(con)[0] < history.events  # half the pages, nothing of the last one
    with Ingestor(con) as ing:
        for page in history.pages:  # the follower re-fetches from its cursor, or earlier
            ing.apply(page)
    assert snapshot(con) == snapshot(clean)


def test_bad_page_is_refused_and_changes_nothing(history) -> None:  # type: ignore[no-untyped-def]
    con = connect()
    with Ingestor(con) as ing:
        ing.apply(history.pages[0])
        before = snapshot(con)
        with pytest.raises(InvalidInput) as err:
            ing.apply(b'{"events": [{"seq": "x"}], "next": 5')
        assert err.value.code == "invalid_feed"
        page = msgspec.json.decode(history.pages[1])
        page["events"][-1]["data"]["send_amount"] = "lots"  # a wrong type deep inside
        with pytest.raises(InvalidInput):
            ing.apply(msgspec.json.encode(page))
        assert snapshot(con) == before
        assert ing.apply(history.pages[1]).counted == len(page["events"])


def test_pages_applied_together_count_as_one_by_one(history) -> None:  # type: ignore[no-untyped-def]
    """A follower catching up commits several pages at once: the store ends the same, a
    group seen before adds nothing, and one bad page refuses its whole group."""
    one_by_one = connect()
    with Ingestor(one_by_one) as ing:
        for page in history.pages:
            ing.apply(page)
    together = connect()
    pages = history.pages
    with Ingestor(together) as ing:
        assert ing.apply_many(pages[:3]).counted > 0
        assert ing.apply_many(pages[:3]).counted == 0
        before = snapshot(together)
        with pytest.raises(InvalidInput):
            ing.apply_many([pages[3], b'{"events": [{"seq": "x"}], "next": 5'])
        assert snapshot(together) == before
        assert ing.apply_many(pages[2:]).counted > 0  # overlapping the last group: the rest
    assert snapshot(together) == snapshot(one_by_one)
