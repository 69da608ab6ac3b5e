"""`corridor demo`: one remittance from PayFast (India) to MobiCash (Kenya) through the
TXN engine, on a fresh copy of the demo site, with the in-process payout connector.

It copies examples/site to <data>/demo/site, creates the PKI and secrets the site needs,
funds PayFast's float, prices a quote, creates the transfer, lets the worker pay it out,
and prints the journey and the ledger. Later the same story runs over EIG and the
partner simulators.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import click

from corridor.clikit import data_option, fail, open_site
from corridor.core.errors import CorridorError
from corridor.core.money import Money, format_minor

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "site"


def prepare(data_dir: Path) -> Path:
    """A fresh demo site under the data directory, with its PKI and secrets."""
    from corridor.pki.bootstrap import bootstrap

    root = data_dir / "demo"
    if root.exists():
        shutil.rmtree(root)
    site_dir = root / "site"
    shutil.copytree(EXAMPLE, site_dir, ignore=shutil.ignore_patterns("pki", "secrets"))
    bootstrap(open_site(site_dir))
    return site_dir


async def journey(site_dir: Path, data_dir: Path) -> list[str]:
    from corridor.txn import commands as c
    from corridor.txn.connectors import Connectors
    from corridor.txn.engine import Engine
    from corridor.txn.worker import Worker

    site = open_site(site_dir)
    lines: list[str] = []
    engine = Engine(site, "sqlite:///txn.db", data_dir / "demo")
    engine.start()
    try:
        payfast = site.partners["payfast"]
        await engine.writer.submit(c.Fund(payfast, Money.parse("1000000.00", "INR"),
                                          "DEMO-DEPOSIT-1", datetime.now(UTC)))
        lines.append("PayFast prefunds its float: 1000000.00 INR")
        reply = await engine.quote("payfast", "demo-quote-1", json.dumps({
            "send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",
            "payout_method": "wallet", "send_amount": "10000.00"}).encode())
        quote = json.loads(reply.body)
        lines.append(f"quote {quote['id']}: send {quote['send_amount']} INR + fee "
                     f"{quote['fee']} INR -> {quote['receive_amount']} KES at {quote['rate']}")
        reply = await engine.create_transfer("payfast", "demo-transfer-1", json.dumps({
            "quote_id": quote["id"], "reference": "PF-DEMO-0001",
            "sender": {"name": "Asha Rao", "account": "PF-ACC-7781",
                       "address": "12 MG Road, Mumbai", "id_type": "passport",
                       "id_number": "Z1234567", "country": "IN"},
            "beneficiary": {"name": "John Kamau", "account": "254700123456",
                            "phone": "+254700123456", "country": "KE"},
            "purpose": "family_support", "source_of_funds": "salary"}).encode())
        transfer = json.loads(reply.body)
        lines.append(f"transfer {transfer['id']} ({transfer['reference']}): "
                     f"{transfer['status']}")
        worker = Worker(engine, Connectors(site, override="in-process"))
        await worker.step()
        final = json.loads(await engine.get_transfer("payfast", transfer["id"]))
        for change in final["history"]:
            lines.append(f"  {change['at']}  {change['status']}")
        lines.append("ledger balances:")
        for row in json.loads(await engine.balances()):
            cur = row["currency"]
            lines.append(f"  {row['account']:<28} posted {format_minor(row['posted'], cur):>14} "
                         f"pending {format_minor(row['pending'], cur):>12} {cur}")
        if final["status"] != "COMPLETED":
            raise CorridorError(f"the transfer ended {final['status']}", code="demo_failed")
        from corridor.txn.verify import violations

        found = await engine.read(lambda conn: violations(site, conn))
        if found:
            raise CorridorError("; ".join(found), code="ledger_violation")
        lines.append("ledger verified: every journal balances, no float below its floor")
    finally:
        engine.stop()
    return lines


@click.command()
@data_option
def demo(data_dir: Path) -> None:
    """Run one PayFast -> MobiCash remittance end to end and print the journey."""
    try:
        site_dir = prepare(data_dir)
        click.echo(f"demo site: {site_dir}")
        for line in asyncio.run(journey(site_dir, data_dir)):
            click.echo(line)
    except CorridorError as exc:
        fail(f"{exc.code}: {exc.detail}")
