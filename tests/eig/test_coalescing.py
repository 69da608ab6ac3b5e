"""Concurrent partner calls share `POST /internal/v1/batch` between EIG and TXN, yet each
caller gets exactly its own answer: its own transfer, its own refusal, the original answer
again for a replayed Idempotency-Key, and 503 `txn_unavailable` when TXN is down."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
from pathlib import Path

import aiohttp
import msgspec

from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client, partner_client
from tests.eig.conftest import QUOTE, Gateway, Stack, start_gateway, stop_gateway, transfer_body
from tests.support import free_port

Reply = tuple[int, dict]


async def _post_all(gw: Gateway, calls: list[tuple[str, str, bytes]]) -> list[Reply]:
    """POST every (path, Idempotency-Key, body) at once, on as many connections."""
    ctx = partner_client(gw.layout, "payfast")
    headers = {"Authorization": f"Bearer {gw.keys['payfast']}",
               "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(ssl=ctx, limit=len(calls))
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=20)) as session:
        async def one(path: str, key: str, body: bytes) -> Reply:
            async with session.post(gw.url + path, data=body,
                                    headers={**headers, "Idempotency-Key": key}) as resp:
                return resp.status, json.loads(await resp.read())

        return await asyncio.gather(*(one(*call) for call in calls))


def post_all(gw: Gateway, calls: list[tuple[str, str, bytes]]) -> list[Reply]:
    return asyncio.run(_post_all(gw, calls))


def test_concurrent_calls_each_get_their_own_answer(gw: Gateway) -> None:
    run = os.urandom(4).hex()
    before = gw.reached_txn("/internal/v1/batch")
    quote = json.dumps(QUOTE).encode()
    no_route = json.dumps({**QUOTE, "destination_country": "JP"}).encode()
    quotes = post_all(gw, [("/v1/quotes", f"bq-{run}-{i}", no_route if i % 5 == 4 else quote)
                           for i in range(40)])
    for i, (status, body) in enumerate(quotes):
        if i % 5 == 4:  # refused by TXN's pricing, alone: the others are priced
            assert status == 422 and body["code"] == "no_route", body
        else:
            assert status == 201 and body["send_amount"] == "1000.00", body
    ids = [body["id"] for status, body in quotes if status == 201]
    assert len(set(ids)) == len(ids) == 32

    # Transfers on those quotes, a transfer on a quote that does not exist, and one
    # Idempotency-Key sent twice with the same body: each answer is the caller's own.
    calls = [("/v1/transfers", f"bt-{run}-{i}",
              json.dumps(transfer_body(qid, f"B-{run}-{i}")).encode())
             for i, qid in enumerate(ids)]
    calls.append(("/v1/transfers", f"bt-{run}-x",
                  json.dumps(transfer_body("q-nope", f"B-{run}-x")).encode()))
    calls.append(calls[0])
    answers = post_all(gw, calls)
    for i, (status, body) in enumerate(answers[:32]):
        assert status == 201, body
        assert body["reference"] == f"B-{run}-{i}" and body["quote_id"] == ids[i]
    assert answers[32][0] == 422 and answers[32][1]["code"] == "quote_not_found"
    assert answers[33] == answers[0]  # the replay: the original answer, nothing done twice
    assert len({body["id"] for _, body in answers[:32]}) == 32

    # Every call reached TXN, counted under its own route, in batches that carried them.
    batches = gw.reached_txn("/internal/v1/batch") - before
    assert 1 <= batches <= 40 + 34


def test_txn_outage_gives_each_caller_503(stack: Stack, tmp_path: Path) -> None:
    dead = start_gateway(stack, tmp_path / "eig", "--txn-url", f"https://127.0.0.1:{free_port()}")
    try:
        quote = json.dumps(QUOTE).encode()
        answers = post_all(dead, [("/v1/quotes", f"down-{i}", quote) for i in range(8)])
        assert all(status == 503 and body["code"] == "txn_unavailable"
                   for status, body in answers), answers
    finally:
        stop_gateway(dead)


def post_batch(stack: Stack, caller: str, body: bytes) -> tuple[int, str, bytes]:
    """POST a raw batch to TXN as the hub server `caller`: (status, Content-Type, body)."""
    ctx = hub_client(Layout(stack.site), caller)
    conn = http.client.HTTPSConnection("127.0.0.1", stack.txn.port, context=ctx, timeout=10)
    try:
        conn.request("POST", "/internal/v1/batch", body=body,
                     headers={"Content-Type": "application/msgpack"})
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


def test_batch_endpoint_answers_items_alone_and_refuses_bad_batches(stack: Stack) -> None:
    quote = json.dumps(QUOTE).encode()
    key = f"raw-{os.urandom(4).hex()}"
    items = [["POST", "/internal/v1/quotes", "payfast", key, None, quote],
             ["POST", "/internal/v1/quotes", "payfast", None, None, quote],
             ["GET", "/internal/v1/events", "payfast", None, None, b""],
             ["POST", "/internal/v1/quotes", "payfast", key + "-big", None, b"{" * 70_000],
             ["POST", "/internal/v1/quotes", "payfast", key, None, quote]]
    status, ctype, raw = post_batch(stack, "eig", msgspec.msgpack.encode(items))
    assert status == 200 and ctype.startswith("application/msgpack")
    answers = msgspec.msgpack.decode(raw)
    assert [a[0] for a in answers] == [201, 400, 404, 413, 201]
    assert json.loads(answers[0][2])["send_amount"] == "1000.00"
    assert answers[4] == answers[0]  # the same key and body again: the same quote
    assert [json.loads(a[2])["code"] for a in answers[1:4]] == [
        "idempotency_key_missing", "not_found", "body_too_large"]
    assert all(a[1] == "application/problem+json" for a in answers[1:4])

    status, _, raw = post_batch(stack, "eig", b"\xc1nope")
    assert status == 422 and json.loads(raw)["code"] == "invalid_batch"
    status, _, raw = post_batch(stack, "rpt", msgspec.msgpack.encode(items[:1]))
    assert status == 403 and json.loads(raw)["code"] == "caller_not_allowed"
