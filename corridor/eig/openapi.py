"""The partner API's OpenAPI 3.1 document, generated from the wire schemas and the call
table that the gateway itself serves from, so the two cannot drift apart."""

from __future__ import annotations

import functools
from typing import Any, get_args

import msgspec

from corridor.api import schemas
from corridor.eig.requests import IDEMPOTENCY_KEY, OPERATIONS, TRANSFER_ID, Operation

REF = "#/components/schemas/{name}"
_SUCCESS: dict[str, tuple[tuple[str, ...], type]] = {
    "create_quote": (("200", "201"), schemas.Quote),
    "validate_account": (("200",), schemas.AccountValidation),
    "create_transfer": (("200", "201", "202"), schemas.Transfer),
    "list_transfers": (("200",), schemas.TransferPage),
    "get_transfer": (("200",), schemas.Transfer),
    "cancel_transfer": (("200",), schemas.Transfer),
    "recall_transfer": (("202",), schemas.Recall),
    "receiver_callback": (("200",), schemas.CallbackAck),
}
# RPT's report bodies (corridor/rpt/README.md) have no wire struct: described here.
_ROWS = {"type": "array", "items": {"type": "object",
                                    "additionalProperties": {"type": ["string", "null"]}}}
_REPORTS: dict[str, dict[str, Any]] = {
    "transactions_report": {
        "application/json": {"schema": {
            "type": "object", "required": ["partner", "from", "to", "count", "transfers"],
            "properties": {"partner": {"type": "string"}, "from": {"type": "string"},
                           "to": {"type": "string"}, "count": {"type": "integer"},
                           "transfers": _ROWS}}},
        "text/csv": {"schema": {"type": "string"}},
    },
    "settlement_report": {
        "application/json": {"schema": {
            "type": "object", "required": ["date", "from", "to", "sent", "received",
                                           "positions"],
            "properties": {"date": {"type": "string", "format": "date"},
                           "from": {"type": "string"}, "to": {"type": "string"},
                           "partner": {"type": ["string", "null"]},
                           "sent": {"type": "array", "items": {"type": "object"}},
                           "received": {"type": "array", "items": {"type": "object"}},
                           "positions": {"type": "array", "items": {"type": "object"}}}}},
    },
}
_REPORT_CODES = ("422: invalid_date, period_in_future, invalid_period, invalid_format; "
                 "503: reports_unavailable")
_PROBLEMS = {
    "400": "Malformed JSON or a missing or malformed header",
    "401": "No, or a wrong, API key",
    "403": "Certificate, source address or API key do not name one enabled partner",
    "404": "No such transfer (among this partner's own)",
    "405": "Method not allowed on this path",
    "409": "Idempotency conflict, duplicate reference or a transfer in the wrong state",
    "413": "Body larger than the gateway accepts",
    "415": "Body is not application/json",
    "422": "The body or query does not validate",
    "429": "Rate limit reached; retry after Retry-After seconds",
    "503": "The transaction engine is unavailable; retry with the same Idempotency-Key",
}
_SUMMARIES = {
    "create_quote": "Price a transfer",
    "validate_account": "Ask the receive partner whether an account exists",
    "create_transfer": "Create a transfer from a quote",
    "list_transfers": "Query this partner's transfers (paged)",
    "get_transfer": "A transfer's status and history",
    "cancel_transfer": "Cancel a transfer before it is submitted",
    "recall_transfer": "Ask for a completed transfer's funds back (answered as a return or "
                       "a refusal, by sender callback)",
    "receiver_callback": "A receive partner reports the outcome of a payout",
    "transactions_report": "This partner's transactions in a period, as JSON or CSV",
    "settlement_report": "This partner's settlement statement for one business day",
}


def _problem(description: str, retry: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {
            "schema": {"$ref": REF.format(name="Problem")}}},
    }
    if retry:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}
    return out


def _parameters(call: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if "{id" in call.path:
        params.append({"name": "id", "in": "path", "required": True,
                       "schema": {"type": "string", "pattern": f"^{TRANSFER_ID}$"}})
    if call.method == "POST":
        params.append({"name": "Idempotency-Key", "in": "header", "required": True,
                       "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern}})
    if call.name == "receiver_callback":
        params.append({"name": "Corridor-Signature", "in": "header", "required": True,
                       "description": "t=<unix>,v1=<hex HMAC-SHA256 of \"t.body\">",
                       "schema": {"type": "string", "pattern": r"^t=[0-9]+,v1=[0-9a-f]{64}$"}})
    if call.name == "list_transfers":
        statuses = list(get_args(schemas.Status))
        params += [
            {"name": "from", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "to", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": statuses}},
            {"name": "reference", "in": "query",
             "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:-]{1,64}$"}},
            {"name": "limit", "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
            {"name": "cursor", "in": "query",
             "schema": {"type": "string", "pattern": r"^[A-Za-z0-9._:=-]{1,200}$"}},
        ]
    if call.name == "transactions_report":
        when = "YYYY-MM-DD (`to` includes that whole day) or an RFC 3339 time"
        params += [
            {"name": "from", "in": "query", "required": True, "description": when,
             "schema": {"type": "string"}},
            {"name": "to", "in": "query", "required": True, "description": when,
             "schema": {"type": "string"}},
            {"name": "format", "in": "query",
             "schema": {"type": "string", "enum": ["json", "csv"], "default": "json"}},
        ]
    if call.name == "settlement_report":
        params.append({"name": "date", "in": "query", "required": True,
                       "description": "The business day (cut-off to cut-off, UTC)",
                       "schema": {"type": "string", "format": "date"}})
    return params


@functools.cache
def document() -> dict[str, Any]:
    types = [c.body for c in OPERATIONS if c.body is not None]
    types += [t for _, t in _SUCCESS.values()] + [schemas.Problem]
    _, components = msgspec.json.schema_components(types, ref_template=REF)
    paths: dict[str, dict[str, Any]] = {}
    for call in OPERATIONS:
        path = call.path.replace(f"{{id:{TRANSFER_ID}}}", "{id}")
        responses: dict[str, Any]
        if call.name in _REPORTS:
            responses = {"200": {"description": "OK", "content": _REPORTS[call.name]}}
        else:
            codes, answer = _SUCCESS[call.name]
            responses = {
                code: {"description": "OK", "content": {"application/json": {
                    "schema": {"$ref": REF.format(name=answer.__name__)}}}}
                for code in codes
            }
        problems = [s for s in _PROBLEMS if call.method == "POST" or s not in ("409", "413",
                                                                              "415")]
        responses.update({s: _problem(_PROBLEMS[s], retry=s == "429") for s in problems})
        if call.upstream == "rpt":
            responses["503"] = _problem("Reports are unavailable now; retry later")
            responses["422"] = _problem(f"The query does not validate ({_REPORT_CODES})")
        op: dict[str, Any] = {
            "operationId": call.name,
            "summary": _SUMMARIES[call.name],
            "parameters": _parameters(call),
            "responses": responses,
        }
        if call.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": REF.format(name=call.body.__name__)}}}}
        paths.setdefault(path, {})[call.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Corridor partner API",
            "version": "1",
            "description": (
                "Served only over mutual TLS: the client certificate must chain to the hub's "
                "partner CA, be valid, unrevoked and pinned to the calling partner; the "
                "source address must be in that partner's allowlist; and the bearer API "
                "key must be that partner's. Every POST takes an Idempotency-Key."),
        },
        "servers": [{"url": "/"}],
        "security": [{"mutualTLS": [], "apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "mutualTLS": {"type": "mutualTLS",
                              "description": "Client certificate issued by the hub"},
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "Authorization: Bearer cor_live_..."},
            },
        },
    }


def document_bytes() -> bytes:
    return msgspec.json.encode(document())
