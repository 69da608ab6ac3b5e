"""Fixtures for RPT: a demo site with real certificates, and a store holding a generated
history that ends now (so the dashboard's last 24 hours show it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from corridor.rpt.history import History, generate
from corridor.rpt.store import connect, store_path
from corridor.site import Site, load_site
from tests.rpt.rig import fill, make_pki


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
