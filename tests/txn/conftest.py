"""An engine on each store (see tests/store/conftest.py), with a clock the test moves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from corridor.settings import Settings
from corridor.site import Site, load_site
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from corridor.txn.worker import Worker
from tests.store.conftest import dsn, pg_dsn  # noqa: F401  (fixtures)
from tests.support import copy_site


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


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


def worker(engine: Engine) -> Worker:
    settings = Settings(connector="in-process")
    return Worker(engine, Connectors(engine.site, settings), settings)


def quote_body(amount: str = "1000.00", **over: Any) -> bytes:
    body = {"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",
            "payout_method": "wallet", "send_amount": amount, **over}
    return json.dumps(body).encode()


def transfer_body(quote_id: str, reference: str = "ref-1", sender: str = "Asha Rao",
                  beneficiary: str = "John Kamau", **over: Any) -> bytes:
    body = {
        "quote_id": quote_id, "reference": reference,
        "sender": {"name": sender, "account": "AC-991", "address": "12 MG Road, Mumbai",
                   "id_type": "passport", "id_number": "P1234567"},
        "beneficiary": {"name": beneficiary, "account": "254700000001",
                        "phone": "+254700000001"},
        "purpose": "family_support", "source_of_funds": "salary", **over,
    }
    return json.dumps(body).encode()
