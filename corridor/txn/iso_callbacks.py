"""The asynchronous outcome of a payout from an ISO 20022 receive partner: a signed
pacs.002 relayed by EIG. The signature is checked before anything is read; the message is
parsed strictly and validated against its XSD (again: TXN trusts no caller's parsing),
then applied exactly as a JSON receiver callback is (`FinishPayout`): a repeat is a
duplicate, a contradiction is flagged for reconciliation, a pacs.002 about another
partner's payout is refused (403 `not_your_transfer`), an in-process status (ACSP, PDNG)
after the final one changes nothing."""

from __future__ import annotations

import time

from corridor.api import schemas as api
from corridor.core.signature import verify
from corridor.iso20022 import MessageRefused, pacs002, parse
from corridor.iso20022.codes import failure_reason
from corridor.txn.callbacks import secret
from corridor.txn.commands.payouts import FinishPayout
from corridor.txn.engine import Engine


async def status_report(engine: Engine, partner_id: str, body: bytes,
                        signature: str | None) -> api.CallbackAck:
    verify(secret(engine, partner_id), signature, body, int(time.time()))
    _, root = parse(body, pacs002.MESSAGE)
    report = pacs002.read(root)
    if report.transfer_id is None:
        raise MessageRefused("the pacs.002 reports no transaction status (TxInfAndSts)",
                             code="no_transaction", status=422)
    outcome = report.outcome
    if outcome is None:
        raise MessageRefused(f"TxSts {report.status!r} is not a status Corridor knows",
                             code="unknown_status", status=422)
    reason = failure_reason(partner_id, report.reason, report.info) \
        if outcome == "failed" else None
    return await engine.writer.submit(FinishPayout(
        report.transfer_id, outcome, reason, engine.clock(), partner_id=partner_id,
        partner_reference=report.partner_reference))
