"""The partner API's calls as data: path, body type, who may make it, and the checks EIG
makes before anything reaches TXN. Bodies are decoded with the shared wire schemas
(`corridor.api.schemas`); a body that fails is refused here and never forwarded."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args

import msgspec

from corridor.api import schemas
from corridor.core.errors import InvalidInput
from corridor.core.money import parse_minor
from corridor.core.times import parse_time
from corridor.eig.errors import BadRequest

# Far beyond any real transfer, yet well inside a 64-bit integer of minor units.
MAX_MINOR = 10**15
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TRANSFER_ID = "[A-Za-z0-9-]{1,64}"
_CURSOR = re.compile(r"^[A-Za-z0-9._:=-]{1,200}$")
_STATUSES = frozenset(get_args(schemas.Status))


@dataclass(frozen=True)
class Operation:
    name: str  # metric label and OpenAPI operationId
    method: str
    path: str  # aiohttp route pattern
    role: str  # "send", "receive" or "any": who may make the call
    body: type | None = None
    check: Callable[[Any], None] | None = None
    query: Callable[[Any], str] | None = None  # the validated query string relayed
    upstream: str = "txn"  # the hub server that answers: "txn" or "rpt"
    # Relayed in a batch with concurrent calls (corridor.eig.coalescer): the calls TXN
    # answers from its group-commit writer, not ones that wait on a remote partner.
    coalesced: bool = False

    @property
    def decoder(self) -> msgspec.json.Decoder[Any] | None:
        return _DECODERS.get(self.body) if self.body is not None else None


def amount(text: str | None, currency: str, field: str) -> None:
    if text is None:
        return
    minor = parse_minor(text, currency)  # refuses more decimals than the currency has
    if minor <= 0:
        raise InvalidInput(f"{field} must be more than zero", code="invalid_amount")
    if minor > MAX_MINOR:
        raise InvalidInput(f"{field} {text} is beyond any transfer the hub makes",
                           code="invalid_amount")


def check_quote(req: schemas.QuoteRequest) -> None:
    if (req.send_amount is None) == (req.receive_amount is None):
        raise InvalidInput("give exactly one of send_amount and receive_amount",
                           code="amount_required")
    amount(req.send_amount, req.send_currency, "send_amount")
    amount(req.receive_amount, req.receive_currency, "receive_amount")


def check_validation(req: schemas.AccountValidationRequest) -> None:
    parse_minor("0", req.receive_currency)  # unknown_currency


OPERATIONS = (
    Operation("create_quote", "POST", "/v1/quotes", "send", schemas.QuoteRequest, check_quote,
              coalesced=True),
    Operation("validate_account", "POST", "/v1/accounts/validate", "send",
              schemas.AccountValidationRequest, check_validation),
    Operation("create_transfer", "POST", "/v1/transfers", "send", schemas.TransferRequest,
              coalesced=True),
    Operation("list_transfers", "GET", "/v1/transfers", "send", query=lambda q: list_query(q)),
    Operation("get_transfer", "GET", f"/v1/transfers/{{id:{TRANSFER_ID}}}", "send"),
    Operation("cancel_transfer", "POST", f"/v1/transfers/{{id:{TRANSFER_ID}}}/cancel", "send",
              schemas.CancelRequest, coalesced=True),
    Operation("recall_transfer", "POST", f"/v1/transfers/{{id:{TRANSFER_ID}}}/recall", "send",
              schemas.RecallRequest, coalesced=True),
    Operation("receiver_callback", "POST", "/v1/callbacks/receiver", "receive",
              schemas.ReceiverCallback, coalesced=True),
    Operation("transactions_report", "GET", "/v1/reports/transactions", "any",
              query=lambda q: report_query(q, ("from", "to", "format")), upstream="rpt"),
    Operation("settlement_report", "GET", "/v1/reports/settlement", "any",
              query=lambda q: report_query(q, ("date",)), upstream="rpt"),
)

_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {
    c.body: msgspec.json.Decoder(c.body) for c in OPERATIONS if c.body is not None
}


def decode(call: Operation, body: bytes) -> Any:
    """The body as the call's wire struct, or a problem: 400 malformed_json, 422
    invalid_request (wrong type, unknown or missing field), or the call's own codes."""
    decoder = call.decoder
    assert decoder is not None
    try:
        value = decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc), code="invalid_request") from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}", code="malformed_json") from None
    if call.check is not None:
        call.check(value)
    return value


def list_query(query: Any) -> str:
    """The validated query of GET /v1/transfers, re-encoded for TXN (unknown keys drop)."""
    from urllib.parse import urlencode

    out: dict[str, str] = {}
    for key in ("from", "to"):
        if key in query:
            parse_time(query[key])
            out[key] = query[key]
    if "status" in query:
        if query["status"] not in _STATUSES:
            raise InvalidInput(f"status {query['status'][:40]!r} is not a transfer state",
                               code="invalid_status")
        out["status"] = query["status"]
    if "reference" in query:
        if not re.match(r"^[A-Za-z0-9._:-]{1,64}$", query["reference"]):
            raise InvalidInput("reference is 1-64 of A-Z a-z 0-9 . _ : -",
                               code="invalid_reference")
        out["reference"] = query["reference"]
    if "limit" in query:
        text = query["limit"]
        if not text.isdigit() or not 1 <= int(text) <= 500:
            raise InvalidInput("limit must be a whole number 1..500", code="invalid_limit")
        out["limit"] = str(int(text))
    if "cursor" in query:
        if not _CURSOR.match(query["cursor"]):
            raise InvalidInput("cursor is not one this API returned", code="invalid_cursor")
        out["cursor"] = query["cursor"]
    return "?" + urlencode(out) if out else ""


def report_query(query: Any, keys: tuple[str, ...]) -> str:
    """The report call's own parameters, relayed as given: RPT checks them and its
    problem codes reach the partner unchanged. Anything else, `partner` above all, is
    dropped: the partner a report is for is only ever the authenticated one."""
    from urllib.parse import urlencode

    out = {key: query[key][:100] for key in keys if key in query}
    return "?" + urlencode(out) if out else ""
