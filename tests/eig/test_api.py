"""The partner API through the real gateway into the real TXN, with curl: bad input is
refused as problem+json with a stable code and never reaches TXN; idempotency, roles,
rate limits, OpenAPI and the internal listener behave as documented."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.core.signature import sign
from tests.eig.conftest import (
    QUOTE,
    Gateway,
    Stack,
    start_gateway,
    stop_gateway,
    transfer_body,
)

TRANSFER = transfer_body("q-1", "PF-1001")


def post(gw: Gateway, path: str, body: object = None, key: str = "k-1", **kw: object):  # type: ignore[no-untyped-def]
    headers = {"Idempotency-Key": key} if key else {}
    headers.update(kw.pop("headers", {}))  # type: ignore[arg-type]
    return gw.curl("POST", path, body=body, headers=headers, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b'{"send_currency": "INR",', 400, "malformed_json"),
    (b'{"send_currency": 5, "receive_currency": "KES", "destination_country": "KE",'
     b' "payout_method": "wallet", "send_amount": "1.00"}', 422, "invalid_request"),
    (b'{"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",'
     b' "payout_method": "wallet", "send_amount": "1.00", "fee": "0"}', 422, "invalid_request"),
    (b'{"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",'
     b' "payout_method": "wallet", "send_amount": "10.005"}', 422, "invalid_amount"),
    (b'{"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",'
     b' "payout_method": "wallet", "send_amount": "999999999999999999.00"}', 422,
     "invalid_amount"),
    (b'{"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",'
     b' "payout_method": "wallet", "send_amount": "0"}', 422, "invalid_amount"),
    (b'{"send_currency": "INR", "receive_currency": "KES", "destination_country": "KE",'
     b' "payout_method": "wallet"}', 422, "amount_required"),
    (b'{"send_currency": "XXX", "receive_currency": "KES", "destination_country": "KE",'
     b' "payout_method": "wallet", "send_amount": "1.00"}', 422, "unknown_currency"),
    (b'[1, 2, 3]', 422, "invalid_request"),
])
def test_bad_bodies_are_refused_and_not_forwarded(gw: Gateway, raw: bytes, status: int,
                                                  code: str) -> None:
    before = gw.reached_txn("/internal/v1/quotes")
    got, body, headers = post(gw, "/v1/quotes", raw=raw, key="bad-1")
    assert (got, body["code"]) == (status, code)
    assert headers["content-type"].startswith("application/problem+json")
    assert body["type"].endswith(code) and body["detail"]
    assert gw.reached_txn("/internal/v1/quotes") == before


def test_missing_headers_wrong_type_and_oversize(gw: Gateway) -> None:
    before = gw.reached_txn("/internal/v1/quotes"), gw.reached_txn("/internal/v1/transfers")
    status, body, _ = post(gw, "/v1/quotes", QUOTE, key="")
    assert (status, body["code"]) == (400, "idempotency_key_missing")
    status, body, _ = post(gw, "/v1/quotes", QUOTE, key="bad key with spaces")
    assert (status, body["code"]) == (400, "idempotency_key_invalid")
    status, body, _ = gw.curl("POST", "/v1/quotes", raw=b"x=1", headers={
        "Idempotency-Key": "k", "Content-Type": "application/x-www-form-urlencoded"})
    assert (status, body["code"]) == (415, "unsupported_media_type")
    big = dict(TRANSFER, purpose="x" * 70_000)
    status, body, _ = post(gw, "/v1/transfers", big)
    assert (status, body["code"]) == (413, "body_too_large")
    assert (gw.reached_txn("/internal/v1/quotes"),
            gw.reached_txn("/internal/v1/transfers")) == before


def test_forged_partner_header_is_dropped(gw: Gateway) -> None:
    """A transfer sent with `Corridor-Partner: desertx` is PayFast's, as its certificate
    and key say: PayFast sees it, DesertX does not."""
    body = transfer_body(gw.quote(), "PF-forge-1")
    status, created, _ = post(gw, "/v1/transfers", body, key="forge-1",
                              headers={"Corridor-Partner": "desertx"})
    assert status == 201, created
    assert gw.curl("GET", f"/v1/transfers/{created['id']}")[0] == 200
    assert gw.curl("GET", f"/v1/transfers/{created['id']}", partner="desertx",
                   interface="127.0.0.4")[0] == 404


def test_header_injection_is_a_problem_not_a_crash(gw: Gateway) -> None:
    """A raw request with a control character in a header: the HTTP parser refuses it and
    the answer is still problem+json (written on the socket, as no client library would)."""
    ctx = ssl.create_default_context(cafile=str(gw.layout.hub_ca[0]))
    ctx.load_cert_chain(*gw.layout.partner("payfast"))
    with socket.create_connection(("127.0.0.1", gw.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /v1/transfers HTTP/1.1\r\nHost: x\r\n"
                    b"Idempotency-Key: a\x00b\r\n\r\n")
        reply = b""
        while chunk := tls.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b"application/problem+json" in head and b'"code":"bad_http_request"' in body


def test_replayed_idempotency_key_with_another_body_conflicts(gw: Gateway) -> None:
    body = transfer_body(gw.quote(), "PF-idem-1")
    first = post(gw, "/v1/transfers", body, key="idem-1")
    again = post(gw, "/v1/transfers", body, key="idem-1")
    assert first[0] == 201 and again[1]["id"] == first[1]["id"]
    other = dict(body, reference="PF-1002")
    status, body, _ = post(gw, "/v1/transfers", other, key="idem-1")
    assert (status, body["code"]) == (409, "idempotency_conflict")


def test_each_partner_sees_only_its_own_transfers(gw: Gateway) -> None:
    status, created, _ = post(gw, "/v1/transfers", transfer_body(gw.quote(), "PF-own"),
                              key="own-1")
    assert status == 201
    assert gw.curl("GET", f"/v1/transfers/{created['id']}")[0] == 200
    status, body, _ = gw.curl("GET", f"/v1/transfers/{created['id']}", partner="desertx",
                              interface="127.0.0.4")
    assert status == 404
    status, body, _ = gw.curl("GET", "/v1/transfers?status=BOGUS")
    assert (status, body["code"]) == (422, "invalid_status")
    assert gw.curl("GET", "/v1/transfers/..%2F..%2Finternal")[0] == 404


def test_roles_are_enforced(gw: Gateway) -> None:
    status, body, _ = post(gw, "/v1/quotes", QUOTE, partner="mobicash", interface="127.0.0.2")
    assert (status, body["code"]) == (403, "role_not_allowed")
    status, body, _ = post(gw, "/v1/callbacks/receiver",
                           {"transfer_id": "t-1", "status": "SUCCESS"})
    assert (status, body["code"]) == (403, "role_not_allowed")
    # MobiCash's callback reaches TXN with its signature over the exact bytes it sent:
    # TXN verifies it with MobiCash's secret, then finds no such payout.
    raw = b'{"transfer_id": "t-unknown-1",  "status": "SUCCESS"}'
    secret = bytes.fromhex((gw.site / "secrets" / "mobicash.hmac").read_text().strip())
    status, body, _ = post(gw, "/v1/callbacks/receiver", raw=raw, partner="mobicash",
                           interface="127.0.0.2",
                           headers={"Corridor-Signature": sign(secret, raw, int(time.time()))})
    assert status == 404, body
    status, body, _ = post(gw, "/v1/callbacks/receiver", raw=raw, partner="mobicash",
                           interface="127.0.0.2", key="k-2",
                           headers={"Corridor-Signature": sign(b"wrong", raw, int(time.time()))})
    assert (status, body["code"]) == (401, "bad_signature")


def test_unknown_path_and_method_are_problems(gw: Gateway) -> None:
    status, body, _ = gw.curl("GET", "/v1/nothing-here")
    assert (status, body["code"]) == (404, "not_found")
    status, body, _ = gw.curl("DELETE", "/v1/quotes")
    assert (status, body["code"]) == (405, "method_not_allowed")


def test_openapi_and_internal_listener(gw: Gateway) -> None:
    status, doc, _ = gw.curl("GET", "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    assert {"/v1/quotes", "/v1/transfers/{id}/cancel", "/v1/transfers/{id}/recall"} <= set(
        doc["paths"])
    recall = doc["paths"]["/v1/transfers/{id}/recall"]["post"]
    assert "202" in recall["responses"] and "RETURNED" in doc["components"]["schemas"][
        "Transfer"]["properties"]["status"]["enum"]
    assert doc["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    assert '"ok"' in gw.internal("/healthz")
    assert "corridor_eig_requests_total" in gw.internal("/metrics")


@pytest.fixture
def slow_gw(stack: Stack, tmp_path: Path) -> Iterator[Gateway]:
    g = start_gateway(stack, tmp_path / "eig", "--rate", "1", "--burst", "3")
    yield g
    stop_gateway(g)


def test_rate_limit_answers_429_with_retry_after(slow_gw: Gateway) -> None:
    answers = [slow_gw.curl("GET", "/v1/transfers") for _ in range(5)]
    assert [a[0] for a in answers[:3]] == [200, 200, 200]
    status, body, headers = answers[-1]
    assert (status, body["code"]) == (429, "rate_limited")
    assert int(headers["retry-after"]) >= 1
    # Another partner has its own bucket.
    assert slow_gw.curl("GET", "/v1/transfers", partner="desertx", interface="127.0.0.4")[0] == 200
