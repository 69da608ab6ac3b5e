"""`corridor bench iso`: ISO 20022 at the message level on one core (building a pacs.008,
reading a pacs.002 strictly, validating a tree against its XSD) and end to end: the same
journey (quote, transfer, payout, receiver callback, sender callback) through a receive
partner on the `iso20022` connector and through one on the `https-json` connector, in the
same run, each in a world of its own (corridor.sim.world) built alike.

`ratio` is the ISO journey's completed transfers per second over the JSON one's. The
message figures count CPU time (one core), the journeys wall time.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import click


def per_second(fn: Any, seconds: float) -> float:
    """How many times `fn()` runs per second of this process's CPU time (one core, this
    thread alone), over about `seconds` of it: on a shared machine, wall time would
    measure the neighbours."""
    count, start = 0, time.thread_time()
    deadline = start + seconds
    while True:
        for _ in range(50):
            fn()
        count += 50
        now = time.thread_time()
        if now >= deadline:
            return round(count / (now - start), 1)


def messages(seconds: float) -> dict[str, float]:
    from lxml import etree

    from corridor.core.ids import new_id
    from corridor.core.money import Money
    from corridor.iso20022 import pacs002, pacs008, parse, schema

    ct = pacs008.CreditTransfer(
        transfer_id=new_id(), amount=Money(150000, "KES"),
        debtor=pacs008.Party("Asha Rao", account="PF-001", country="IN",
                             address="12 MG Road, Bengaluru", id_type="passport",
                             id_number="P1234567", date_of_birth="1990-01-02",
                             place_of_birth="Pune"),
        creditor=pacs008.Party("Jane Wanjiru", account="254700000001", country="KE"),
        debtor_agent=pacs008.Agent("Corridor", other_id="CORRIDOR"),
        creditor_agent=pacs008.Agent("MobiCash", bic="MOBIKENA"),
        payout_method="wallet", purpose="family_support", reference="PF-REF-1")
    report = pacs002.build(status="ACSC", transfer_id_=ct.transfer_id,
                           original_message_id="M1", original_message=pacs008.MESSAGE,
                           partner_reference="MO-000001")
    tree = etree.fromstring(pacs008.build(ct))
    xsd = schema(pacs008.MESSAGE)
    return {
        # built element by element and validated against the XSD before it is returned
        "pacs008_built_per_s": per_second(lambda: pacs008.build(ct), seconds),
        # strict parse (no DTD, entities or network) + XSD validation + extraction
        "pacs002_parsed_per_s": per_second(
            lambda: pacs002.read(parse(report, pacs002.MESSAGE)[1]), seconds),
        "validated_per_s": per_second(lambda: xsd.validate(tree), seconds),
    }


def journey(root: Path, iso: bool, count: int, concurrency: int,
            store: str | None) -> dict[str, Any]:
    import uvloop

    from corridor.processes import relax_gc
    from corridor.sim.bench import cpu_seconds, drive, settle
    from corridor.sim.driver import SendDriver
    from corridor.sim.world import World
    from corridor.site.edit import SiteEdit
    from corridor.store import reads as q

    relax_gc()
    world = World.create(root, store=store, receiver_state=False)
    if iso:
        edit = SiteEdit(world.site_dir)
        edit.set("partners/mobicash.yaml", ["connector"], "iso20022")
        edit.set("partners/mobicash.yaml", ["iso20022"], {"bic": "MOBIKENA"})
        edit.commit()
    with world:
        world.fund("1000000000.00")
        journal = world.data_dir / "payfast.jsonl"
        assert world.stack is not None and world.receiver is not None
        procs = {name: s.process.pid for name, s in world.stack.services.items()}
        procs["receiver"] = world.receiver.process.pid
        cpu0 = {name: cpu_seconds(pid) for name, pid in procs.items()}

        async def go() -> Any:
            async with SendDriver(world.site, "payfast", destination="KE", timeout=60,
                                  seed=1) as driver:
                driver._open(min(concurrency, 128))
                return await drive(driver, count, concurrency, None)

        figures = settle(uvloop.run(go()), journal, 120)
        # CPU seconds each process spent per completed transfer (where the time goes)
        figures["cpu_ms_per_transfer"] = {
            name: round((cpu_seconds(pid) - cpu0[name]) * 1000 / max(figures["completed"], 1),
                        2) for name, pid in procs.items()}
        figures["double_payouts"] = len(world.query(q.double_payouts))
        figures["ledger_balanced"] = world.violations() == []
    return figures


@click.command()
@click.option("--count", type=click.IntRange(1), default=2000, show_default=True,
              help="Transfers in each end-to-end run.")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=256, show_default=True,
              help="Transfers in flight in each end-to-end run.")
@click.option("--seconds", type=click.FloatRange(0.1), default=2.0, show_default=True,
              help="How long each message-level figure is measured.")
@click.option("--store", default=None, metavar="DSN",
              help="TXN store of both worlds (default: SQLite in a temporary directory).")
def bench(count: int, concurrency: int, seconds: float, store: str | None) -> None:
    """ISO 20022 messages per second, and the journey over ISO against JSON."""
    import logging

    logging.disable(logging.WARNING)
    out: dict[str, Any] = messages(seconds)
    with tempfile.TemporaryDirectory(prefix="corridor-iso-") as tmp:
        iso = journey(Path(tmp) / "iso", True, count, concurrency, store)
        plain = journey(Path(tmp) / "json", False, count, concurrency, store)
    out["e2e_completed_per_s"] = iso["completed_per_s"]
    out["e2e_json_completed_per_s"] = plain["completed_per_s"]
    out["ratio"] = round(iso["completed_per_s"] / max(plain["completed_per_s"], 1e-9), 2)
    out["iso_run"] = iso
    out["json_run"] = plain
    out["transfers"] = count
    out["concurrency"] = concurrency
    out["load_average"] = round(os.getloadavg()[0], 1)
    out["cores"] = os.cpu_count()
    click.echo(json.dumps(out))
