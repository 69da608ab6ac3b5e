"""The asynchronous outcome of a payout from an ISO 20022 receive partner: a signed
pacs.002 relayed by EIG. The signature is checked before anything is read; the message is
parsed strictly and validated against its XSD (again: TXN trusts no caller's parsing),
then applied exactly as a JSON receiver callback is (`FinishPayout`): a repeat is a
duplicate, a contradiction is flagged for reconciliation, a pacs.002 about another
partner's payout is refused (403 `not_your_transfer`), an in-process status (ACSP, PDNG)
after the final one changes nothing. A pacs.002 about a camt.056 answers a recall; a
pacs.004 books a return."""

from __future__ import annotations

import time

from corridor.api import schemas as api
from corridor.core.errors import InvalidInput
from corridor.core.money import Money, format_minor
from corridor.core.signature import verify
from corridor.iso20022 import MessageRefused, pacs002, pacs004, parse
from corridor.iso20022.codes import failure_reason, return_of
from corridor.store import reads as q
from corridor.txn.callbacks import secret
from corridor.txn.commands.payouts import FinishPayout
from corridor.txn.commands.returns import AnswerRecall, BookReturn, Outcome
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
    if (report.original_message or "").startswith("camt.056"):
        # About a recall: RJCT is the bank's refusal (camt.029 is not spoken); anything
        # else says it has the recall, and its pacs.004 will follow.
        if report.status != "RJCT":
            return await engine.writer.submit(AnswerRecall(
                report.transfer_id, "forwarded", None, engine.clock(), partner_id=partner_id))
        return await engine.writer.submit(AnswerRecall(
            report.transfer_id, "refused",
            failure_reason(partner_id, report.reason, report.info), engine.clock(),
            partner_id=partner_id))
    reason = failure_reason(partner_id, report.reason, report.info) \
        if outcome == "failed" else None
    return await engine.writer.submit(FinishPayout(
        report.transfer_id, outcome, reason, engine.clock(), partner_id=partner_id,
        partner_reference=report.partner_reference))


async def payment_return(engine: Engine, partner_id: str, body: bytes,
                         signature: str | None) -> api.CallbackAck:
    """A pacs.004 from a bank receive partner: the payout came back. Only the whole
    payout may come back (`return_amount` otherwise); booked as any return
    (`BookReturn`, source `pacs.004`): a second return, or one of a transfer that is not
    COMPLETED, is refused and flagged for reconciliation, never booked twice; the same
    RtrId again is a duplicate."""
    verify(secret(engine, partner_id), signature, body, int(time.time()))
    _, root = parse(body, pacs004.MESSAGE)
    back = pacs004.read(root)
    if back.transfer_id is None:
        raise MessageRefused("the pacs.004 names no original transaction",
                             code="no_transaction", status=422)
    row = await engine.read(q.transfer, back.transfer_id)
    if row is not None and row.receive_partner_id == partner_id and back.amount != Money(
            row.receive_minor, row.receive_currency):
        raise InvalidInput(f"the pacs.004 returns {back.amount}; only the whole payout "
                           f"({format_minor(row.receive_minor, row.receive_currency)} "
                           f"{row.receive_currency}) comes back", code="return_amount")
    words = f"{return_of(back.reason)} (ISO {back.reason or 'none'}) from {partner_id}"
    outcome: Outcome = await engine.writer.submit(BookReturn(
        back.transfer_id, f"{words}: {back.info}" if back.info else words, engine.clock(),
        partner_id=partner_id, return_reference=back.return_id, code=back.reason,
        source="pacs.004"))
    return outcome.result()
