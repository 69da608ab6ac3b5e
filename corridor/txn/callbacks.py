"""Receiver callbacks: a receive partner reports SUCCESS or FAILURE of a payout. The body
is signed with that partner's HMAC secret (core.signature); a bad or stale signature is
refused before anything is read from the store. A callback for a transfer routed to another
partner is refused (403 `not_your_transfer`); a repeat is acknowledged with
`duplicate: true`; one that contradicts a final state is flagged for reconciliation.
After SUCCESS, `RETURNED` books a return and `RECALL_REFUSED` answers a recall."""

from __future__ import annotations

import time

from corridor.api import schemas as api
from corridor.core.errors import InvalidInput, Refused
from corridor.core.signature import verify
from corridor.pki.credentials import read_hmac_secret
from corridor.txn.commands.payouts import FinishPayout
from corridor.txn.commands.returns import AnswerRecall, BookReturn, Outcome
from corridor.txn.engine import Engine, decode_body


def secret(engine: Engine, partner_id: str) -> bytes:
    partner = engine.site.partner(partner_id)
    if partner is None or not partner.receives or partner.callback_secret_file is None:
        raise Refused(f"{partner_id} does not send receiver callbacks", code="unknown_partner")
    return read_hmac_secret(partner.callback_secret_file)


async def receiver_callback(engine: Engine, partner_id: str, body: bytes,
                            signature: str | None) -> api.CallbackAck:
    verify(secret(engine, partner_id), signature, body, int(time.time()))
    cb = decode_body(body, api.ReceiverCallback)
    if cb.status in ("RETURNED", "RECALL_REFUSED"):
        return await after_the_fact(engine, partner_id, cb)
    outcome = "completed" if cb.status == "SUCCESS" else "failed"
    return await engine.writer.submit(FinishPayout(
        cb.transfer_id, outcome, cb.reason, engine.clock(), partner_id=partner_id,
        partner_reference=cb.partner_reference))


async def after_the_fact(engine: Engine, partner_id: str,
                         cb: api.ReceiverCallback) -> api.CallbackAck:
    """A return (`RETURNED`, with its reason) or a refused recall (`RECALL_REFUSED`) for a
    completed payout (corridor.txn.commands.returns)."""
    if cb.reason is None:
        raise InvalidInput(f"a {cb.status} callback needs a reason", code="reason_required")
    if cb.status == "RECALL_REFUSED":
        return await engine.writer.submit(AnswerRecall(
            cb.transfer_id, "refused", cb.reason, engine.clock(), partner_id=partner_id))
    outcome: Outcome = await engine.writer.submit(BookReturn(
        cb.transfer_id, cb.reason, engine.clock(), partner_id=partner_id,
        return_reference=cb.return_reference, code=cb.code,
        partner_reference=cb.partner_reference, source="callback"))
    return outcome.result()
