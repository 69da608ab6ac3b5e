"""The HTTP edge every server mounts: whatever a handler raises, the caller gets
problem+json with a stable code, and nothing from inside the server."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web

from corridor.core.errors import NotFound, Unauthenticated
from corridor.eig.errors import RateLimited
from corridor.web import error_middleware
from tests.edge import ask


async def _raise_runtime(request: web.Request) -> web.Response:
    raise RuntimeError("password=hunter2 in row 7")


async def _raise_not_found(request: web.Request) -> web.Response:
    raise NotFound("no transfer T-1", code="transfer_not_found")


async def _raise_limited(request: web.Request) -> web.Response:
    raise RateLimited("slow down", retry_after=3)


async def _raise_unauthenticated(request: web.Request) -> web.Response:
    raise Unauthenticated("no key", code="api_key_missing")


async def _read(request: web.Request) -> web.Response:
    return web.Response(body=await request.read())


def _app() -> web.Application:
    app = web.Application(middlewares=[error_middleware()], client_max_size=16)
    app.router.add_get("/boom", _raise_runtime)
    app.router.add_get("/missing", _raise_not_found)
    app.router.add_get("/limited", _raise_limited)
    app.router.add_get("/who", _raise_unauthenticated)
    app.router.add_post("/read", _read)
    return app


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/missing", 404, "transfer_not_found"),  # a CorridorError: its own code
    ("GET", "/nowhere", 404, "not_found"),  # the router's 404
    ("DELETE", "/boom", 405, "method_not_allowed"),  # the router's 405
    ("POST", "/read", 413, "body_too_large"),  # client_max_size
    ("GET", "/limited", 429, "rate_limited"),
    ("GET", "/who", 401, "api_key_missing"),
    ("GET", "/boom", 500, "internal_error"),  # anything else
])
def test_every_error_is_problem_json_with_a_stable_code(method: str, path: str, status: int,
                                                         code: str) -> None:
    got = ask(_app(), method, path, b"x" * 64 if method == "POST" else None)
    assert (got.status, got.content_type) == (status, "application/problem+json")
    body = json.loads(got.body)
    assert (body["status"], body["code"]) == (status, code)


def test_an_unexpected_error_is_logged_and_nothing_inside_is_told(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="corridor.web"):
        got = ask(_app(), "GET", "/boom")
    assert got.status == 500
    assert b"hunter2" not in got.body and b"Traceback" not in got.body
    assert any("GET /boom" in r.getMessage() and r.exc_info for r in caplog.records)


def test_the_error_class_adds_its_headers() -> None:
    assert ask(_app(), "GET", "/limited").headers["Retry-After"] == "3"
    assert ask(_app(), "GET", "/who").headers["WWW-Authenticate"].startswith("Bearer")
