"""aiohttp's connection handler with its own error pages replaced by problem+json: a
request the HTTP parser refuses (a malformed or injected header, a bad request line) gets
400 `bad_http_request`, never a text page and never a traceback; and a slot per
connection for what its TLS connection presents (EIG's `corridor_peer`).

Private API: `RequestHandler.handle_error` (undocumented; aiohttp calls it for parser
errors and unhandled exceptions, before any middleware sees the request), a subclass of
`RequestHandler` given extra `__slots__`, and `web.Server`'s `_kwargs` and `_loop`, the
handler options `AppRunner` configured, to make the subclass as `Server.__call__` makes
its own.

Why: a request the parser refuses never reaches the application, so no middleware can
answer it; `handle_error` is the one place aiohttp builds that answer, and it builds
text/plain or HTML. `web.Server` offers no public way to choose the handler class.

Written for aiohttp 3.14.5 (tests/patches/test_aiohttp_request_handler.py).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from corridor.core.errors import CorridorError, InternalError
from corridor.eig.errors import BadRequest
from corridor.patches import require
from corridor.web import problem_response

if TYPE_CHECKING:
    from corridor.eig.identity import Peer

require(__name__, "aiohttp", "3.14.5")


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
            err: CorridorError = InternalError("the gateway failed to handle the request")
        else:
            err = BadRequest("the HTTP request is malformed", code="bad_http_request")
            err.status, err.title = status, HTTPStatus(status).phrase
        resp = problem_response(err)
        resp.force_close()
        return resp


def handler_factory(server: web.Server):  # type: ignore[no-untyped-def]  # returns aiohttp's internal protocol factory
    """A protocol factory like `server` itself, making ProblemRequestHandler."""
    kwargs = dict(server._kwargs)  # the handler options AppRunner configured

    def make() -> ProblemRequestHandler:
        return ProblemRequestHandler(server, loop=server._loop, **kwargs)

    return make
