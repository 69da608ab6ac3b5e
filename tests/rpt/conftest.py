"""Fixtures for RPT: a demo site with real certificates, and a store holding a generated
history that ends now (so the dashboard's last 24 hours show it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from corridor.pki.issue import create_ca, issue, write_issued
from corridor.rpt.history import History, generate
from corridor.rpt.ingest import Ingestor
from corridor.rpt.store import connect, store_path
from corridor.site import Site, load_site


def make_pki(site: Path) -> None:
    """The PKI layout `corridor pki bootstrap` creates, as far as RPT uses it."""
    pki = site / "pki"
    ca = create_ca("Corridor hub CA")
    write_issued(ca, pki / "hub-ca.crt", pki / "hub-ca.key")
    for cn, server in (("rpt", True), ("eig", False), ("txn", True)):
        leaf = issue(ca, cn, server_names=("127.0.0.1", "localhost") if server else (),
                     client=True, server=server)
        write_issued(leaf, pki / "hub" / f"{cn}.crt", pki / "hub" / f"{cn}.key")
    other = create_ca("Some other CA")
    stranger = issue(other, "eig", client=True)
    write_issued(stranger, pki / "stranger.pem", pki / "stranger.key")


@pytest.fixture
def pki_site(site_dir: Path) -> Path:
    make_pki(site_dir)
    return site_dir


@pytest.fixture(scope="module")
def recent_history() -> tuple[Site, History]:
    """Two days of 4,000 transfers ending a minute ago, with the ledger TXN would post."""
    from tests.support import EXAMPLE_SITE

    site = load_site(EXAMPLE_SITE)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=2, minutes=1)
    return site, generate(site, transfers=4000, start=start, days=2, page_size=1000, seed=11)


def fill(con: duckdb.DuckDBPyConnection, history: History) -> None:
    with Ingestor(con) as ing:
        for page in history.pages:
            ing.apply(page)


@pytest.fixture
def store_for(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A file store under a data dir, filled with a history, closed for others to open."""

    def make(site: Site, history: History) -> Path:
        data = tmp_path / "var"
        path = store_path(site, data)
        con = connect(path)
        fill(con, history)
        con.close()
        return data

    return make
