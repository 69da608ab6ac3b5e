"""aiohttp's connection handler, with its own error pages replaced by problem+json: a
request the HTTP parser refuses (a malformed or injected header, a bad request line) gets
400 `bad_http_request`, never a text page and never a traceback."""

from __future__ import annotations

from http import HTTPStatus

import msgspec
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from corridor.eig.identity import Peer


class ProblemRequestHandler(RequestHandler):
    # What the TLS connection presents (the client certificate and the source address),
    # read once per connection by the gateway: it cannot change within a connection.
    __slots__ = ("corridor_peer",)

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]  # aiohttp's RequestHandler arguments, passed through
        super().__init__(*args, **kwargs)
        self.corridor_peer: Peer | None = None

    def handle_error(self, request, status=500, exc=None, message=None):  # type: ignore[no-untyped-def]  # overrides aiohttp's untyped internal hook
        if status >= 500:
            self.log_exception("Error handling request from %s", request.remote, exc_info=exc)
            code, detail = "internal_error", "the gateway failed to handle the request"
        else:
            code, detail = "bad_http_request", "the HTTP request is malformed"
        body = msgspec.json.encode({
            "type": f"https://corridor.example/problems/{code}",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "code": code,
            "detail": detail,
        })
        resp = web.Response(status=status, body=body, content_type="application/problem+json")
        resp.force_close()
        return resp


def handler_factory(server: web.Server):  # type: ignore[no-untyped-def]  # returns aiohttp's internal protocol factory
    """A protocol factory like `server` itself, making ProblemRequestHandler."""
    kwargs = dict(server._kwargs)  # the handler options AppRunner configured

    def make() -> ProblemRequestHandler:
        return ProblemRequestHandler(server, loop=server._loop, **kwargs)

    return make
