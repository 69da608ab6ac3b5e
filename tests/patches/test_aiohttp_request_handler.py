"""corridor.patches.aiohttp_request_handler: what aiohttp answers on its own (a request
its parser refuses, a handler that fails) is problem+json without a traceback, and each
connection carries EIG's `corridor_peer` slot."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import web

from corridor.patches.aiohttp_request_handler import handler_factory
from tests.patches.guard import import_refused, pretend_installed


async def exchange(raw: bytes) -> tuple[str, dict[str, str], dict]:
    """Send `raw` to a server built as EIG builds its partner port; (status line, headers,
    body) of the answer."""
    seen: list[object] = []

    async def fails(request: web.Request) -> web.Response:
        seen.append(request.protocol.corridor_peer)  # type: ignore[attr-defined]
        raise RuntimeError("secret detail")

    app = web.Application()
    app.router.add_get("/fails", fails)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(handler_factory(runner.server), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        answer = await asyncio.wait_for(reader.read(), 10)  # the handler closes after it
        writer.close()
    finally:
        server.close()
        await runner.cleanup()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    assert seen in ([], [None])  # a fresh connection: no peer read yet
    return status, headers, json.loads(body)


def test_a_malformed_request_gets_a_problem() -> None:
    status, headers, body = asyncio.run(exchange(
        b"GET /fails HTTP/1.1\r\nHost: x\r\nInjected\x00Header: 1\r\n\r\n"))
    assert status.endswith(" 400 Bad Request")  # HTTP/1.0: the request line was not read
    assert headers["content-type"] == "application/problem+json"
    assert body == {"type": "https://corridor.example/problems/bad_http_request",
                    "title": "Bad Request", "status": 400, "code": "bad_http_request",
                    "detail": "the HTTP request is malformed"}


def test_a_failing_handler_gets_a_problem_without_its_traceback() -> None:
    status, headers, body = asyncio.run(exchange(
        b"GET /fails HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n"))
    assert status == "HTTP/1.1 500 Internal Server Error"
    assert headers["content-type"] == "application/problem+json"
    assert body["code"] == "internal_error" and "secret" not in json.dumps(body)


def test_another_aiohttp_refuses_to_load_it(monkeypatch: pytest.MonkeyPatch) -> None:
    pretend_installed(monkeypatch, "aiohttp", "3.15.0")
    assert import_refused(monkeypatch, "corridor.patches.aiohttp_request_handler") == (
        "corridor.patches.aiohttp_request_handler was written for aiohttp 3.14.5, but "
        "aiohttp 3.15.0 is installed: check the patch against it (and its test), then "
        "update the version in the patch")
