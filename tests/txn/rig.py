"""What the TXN tests share: request bodies as EIG sends them, a clock the test moves, and a
payout worker on the in-process connectors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from corridor.settings import Settings
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from corridor.txn.worker import Worker


class Clock:
    """The engine's clock, moved by the test (`advance`) instead of by waiting."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


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
