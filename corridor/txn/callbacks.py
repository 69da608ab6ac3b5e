"""Receiver callbacks: a receive partner reports SUCCESS or FAILURE of a payout. The body
is signed with that partner's HMAC secret (core.signature); a bad or stale signature is
refused before anything is read from the store. A callback for a transfer routed to another
partner is refused (403 `not_your_transfer`); a repeat is acknowledged with
`duplicate: true`; one that contradicts a final state is flagged for reconciliation."""

from __future__ import annotations

import time

from corridor.api import schemas as api
from corridor.core.errors import Refused
from corridor.core.signature import verify
from corridor.pki.credentials import read_hmac_secret
from corridor.txn.commands.payouts import FinishPayout
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
    outcome = "completed" if cb.status == "SUCCESS" else "failed"
    return await engine.writer.submit(FinishPayout(
        cb.transfer_id, outcome, cb.reason, engine.clock(), partner_id=partner_id,
        partner_reference=cb.partner_reference))
