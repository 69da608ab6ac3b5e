"""TXN's answer to a failure inside a handler: 500 problem+json `internal_error`, counted
like any other answer, with nothing from inside in the body."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from corridor.settings import Settings
from corridor.txn import server
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from tests.edge import ask


def test_a_failing_handler_is_500_internal_error_without_a_trace(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("ledger row 42: password=hunter2")

    monkeypatch.setattr(server, "healthz", broken)
    app = server.make_app(engine, Connectors(engine.site, Settings(connector="in-process")))
    got = ask(app, "GET", "/healthz")
    assert (got.status, got.content_type) == (500, "application/problem+json")
    assert json.loads(got.body)["code"] == "internal_error"
    assert b"hunter2" not in got.body and b"Traceback" not in got.body
