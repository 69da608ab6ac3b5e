"""An engine on each store (see tests/store/conftest.py), with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.site import Site, load_site
from corridor.txn.engine import Engine
from tests.store.conftest import dsn, pg_dsn  # noqa: F401  (fixtures)
from tests.support import copy_site
from tests.txn.rig import Clock


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return load_site(copy_site(tmp_path))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(site: Site, dsn: str, tmp_path: Path, clock: Clock) -> Iterator[Engine]:  # noqa: F811
    e = Engine(site, dsn, tmp_path, clock=clock)
    e.start()
    try:
        yield e
    finally:
        e.stop()
