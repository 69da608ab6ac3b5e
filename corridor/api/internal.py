"""The EIG-to-TXN batch contract (docs/internal-api.md): `POST /internal/v1/batch` carries
a msgpack list of `Relayed` calls and TXN answers a msgpack list of `Answered`, one per
call, in order. EIG (`eig/coalescer.py`) sends it, TXN (`txn/relay.py`) serves it."""

from __future__ import annotations

import msgspec

from corridor.core.errors import CorridorError, InvalidInput, Unauthenticated

BATCH_PATH = "/internal/v1/batch"
MSGPACK = "application/msgpack"
PARTNER_HEADER = "Corridor-Partner"
# What TXN takes in one batch; EIG sends smaller ones (MAX_SENT_*) so a batch forms and
# leaves quickly under load.
MAX_BATCH_ITEMS = 1024
MAX_BATCH_BODY = 4 * 1024 * 1024
MAX_SENT_ITEMS = 64
MAX_SENT_BYTES = 1024 * 1024


class Relayed(msgspec.Struct, array_like=True, frozen=True):
    """One partner call as EIG relays it, whether alone (path, headers and body of its own
    request) or as an item of a batch (this struct on the wire)."""

    method: str
    path: str
    partner: str | None = None
    key: str | None = None
    signature: str | None = None
    body: bytes = b""
    traceparent: str | None = None  # the partner call's W3C trace context, through EIG

    def partner_id(self) -> str:
        if not self.partner:
            raise Unauthenticated(f"the {PARTNER_HEADER} header is missing",
                                  code="partner_missing")
        return self.partner

    def idempotency_key(self) -> str:
        if not self.key:
            raise CorridorError("the Idempotency-Key header is required",
                                code="idempotency_key_missing")
        if len(self.key) > 200:
            raise InvalidInput("the Idempotency-Key header is too long",
                               code="invalid_request")
        return self.key


class Answered(msgspec.Struct, array_like=True):
    """TXN's answer to one relayed call: an item of the batch reply."""

    status: int
    content_type: str
    body: bytes


encode_batch = msgspec.msgpack.Encoder().encode
decode_calls = msgspec.msgpack.Decoder(list[Relayed]).decode
decode_answers = msgspec.msgpack.Decoder(list[Answered]).decode
