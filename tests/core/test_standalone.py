"""The domain stands on its own: every module of corridor.core imports, and prices,
checks KYC, screens and applies limits, in a process where the rest of corridor (the
site loader above all) cannot be imported. The values are built by hand, as a unit test
of the domain would build them, not read from a site directory."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support import REPO

STANDALONE = """
import importlib, json, pkgutil, sys
from datetime import UTC, datetime
from decimal import Decimal
from importlib.abc import MetaPathFinder

class OnlyCore(MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith("corridor.") and name.split(".")[1] != "core":
            raise ImportError(f"corridor.core reached for {name}")
        return None

sys.meta_path.insert(0, OnlyCore())
import corridor.core
modules = [m.name for m in pkgutil.walk_packages(corridor.core.__path__, "corridor.core.")]
for name in modules:
    importlib.import_module(name)

from corridor.core.compliance import KycRule, SanctionsEntry, Screener, check_kyc, exceeds_daily
from corridor.core.counterparty import Counterparty, Limits
from corridor.core.errors import InvalidInput
from corridor.core.pricing import FeeRule, Tariff, price_quote

payfast = Counterparty("payfast", "IN", ("INR",), (), Limits(500_000_00, 1_000_000_00))
mobicash = Counterparty("mobicash", "KE", ("KES",), ("wallet",), Limits(None, None))
tariff = Tariff(quote_ttl_s=600, fx_margin_bps=150,
                fx_rates={("INR", "KES"): Decimal("1.5412")},
                fees={"IN-KE": FeeRule("IN-KE", "INR", 50_00, 50, 50_00, 2500_00)})
q = price_quote(tariff, payfast, mobicash, send_currency="INR", receive_currency="KES",
                destination_country="KE", payout_method="wallet", send_amount="10000.00",
                receive_amount=None, quote_id="q", now=datetime(2026, 11, 25, tzinfo=UTC))
try:
    check_kyc({"IN-KE": KycRule("IN-KE", ("id_number",), ())}, "IN-KE",
              {"name": "Priya Sharma", "account": "PF-1", "address": "Pune"},
              {"name": "John Kamau", "account": "254700000001"})
    kyc = "passed"
except InvalidInput as exc:
    kyc = [exc.code, [e["field"] for e in exc.extra["errors"]]]
screener = Screener([SanctionsEntry("DEMO-001", "Viktor Malenko", (), "XX", "DEMO", "list:2")],
                    88)
hit = screener.screen_transfer("Malenko, Viktor", "John Kamau")
print(json.dumps({
    "modules": modules,
    "quote": [str(q.rate), str(q.receive), str(q.fee), str(q.total), q.corridor],
    "kyc": kyc,
    "hit": [hit.party, hit.entry_id] if hit else None,
    "daily": [exceeds_daily(payfast, 100_000_00, 900_000_00),
              exceeds_daily(payfast, 100_000_01, 900_000_00)],
}))
"""


def test_core_imports_and_works_without_the_rest_of_corridor() -> None:
    run = subprocess.run([sys.executable, "-c", STANDALONE], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert "corridor.core.pricing" in found["modules"]
    assert "corridor.core.compliance" in found["modules"]
    assert found["quote"] == ["1.51808200", "15180.82", "100.00", "10100.00", "IN-KE"]
    assert found["kyc"] == ["missing_kyc", ["sender.id_number"]]
    assert found["hit"] == ["sender", "DEMO-001"]
    assert found["daily"] == [False, True]
