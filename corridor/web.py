"""The HTTP edge every Corridor server mounts (aiohttp, so not in `core`): the
problem+json response, the one middleware that maps any error to it, the JSON body
decoder and the binding of the (route, status) metric children.

    CorridorError                 -> its own status, code and problem body
    aiohttp HTTPException (4xx)   -> the same status with a stable code (404 not_found,
                                     405 method_not_allowed, 413 body_too_large, ...)
    anything else                 -> 500 internal_error, logged; nothing inside leaks
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from corridor.core.errors import CorridorError, InternalError, InvalidInput

PROBLEM = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Called with (request, response, seconds) once the answer is known: the server's metrics.
OnAnswer = Callable[[web.Request, web.StreamResponse, float], None]
T = TypeVar("T")

log = logging.getLogger("corridor.web")
_encode = msgspec.json.Encoder().encode

# aiohttp's own refusals (routing, size), by status: the stable code and title partners see.
HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("body_too_large", "Request body too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
}


def problem_response(exc: CorridorError) -> web.Response:
    """The problem+json answer for `exc`, with the headers its class asks for."""
    resp = web.Response(status=exc.status, body=_encode(exc.problem()), content_type=PROBLEM)
    for name, value in exc.headers().items():
        resp.headers[name] = value
    if exc.closes_connection:
        resp.force_close()
    return resp


def http_error(exc: web.HTTPException) -> CorridorError:
    """The CorridorError standing for an aiohttp HTTPException (a 404 from the router...)."""
    code, title = HTTP_CODES.get(exc.status, (f"http_{exc.status}", exc.reason))
    err = CorridorError(exc.reason or title, code=code)
    err.status, err.title = exc.status, title
    return err


def as_error(exc: BaseException, request: web.Request) -> CorridorError:
    """What any exception raised while answering `request` becomes at the edge."""
    if isinstance(exc, CorridorError):
        return exc
    if isinstance(exc, web.HTTPException) and exc.status >= 400:
        return http_error(exc)
    # The last line of defence: log it, tell the caller nothing inside.
    log.error("unhandled error on %s %s", request.method, request.path[:200], exc_info=exc)
    return InternalError("the request failed inside the server")


def error_middleware(on_answer: OnAnswer | None = None,
                     admit: Callable[[web.Request], None] | None = None) -> Any:
    """The middleware mapping every error to problem+json (module docstring). `admit`
    runs before the handler and may refuse by raising (EIG's identity check: in this one
    middleware rather than a second, as it is on the gateway's hot path); `on_answer` is
    told of every answer and its duration (for the metrics)."""

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            if admit is not None:
                admit(request)
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:  # a redirect or a success raised as an exception
                raise
            response = problem_response(http_error(exc))
        except Exception as exc:
            response = problem_response(as_error(exc, request))
        if on_answer is not None:
            on_answer(request, response, time.perf_counter() - started)
        return response

    return errors


def decode(body: bytes, kind: type[T]) -> T:
    """Decode a JSON request body or raise InvalidInput naming the first fault."""
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.ValidationError as exc:
        raise InvalidInput(f"invalid body: {exc}", code="invalid_request") from None
    except msgspec.DecodeError:
        raise InvalidInput("body is not JSON", code="invalid_request") from None


class BoundMetrics:
    """The labelled children of a request counter (route, status) and a latency histogram
    (route), looked up once per (route, status) rather than on every request."""

    def __init__(self, requests: Any, latency: Any) -> None:
        self.requests, self.latency = requests, latency
        self._bound: dict[tuple[str, int], tuple[Any, Any]] = {}

    def bound(self, route: str, status: int) -> tuple[Any, Any]:
        """(request counter, latency histogram) children for a route and status."""
        found = self._bound.get((route, status))
        if found is None:
            found = self._bound[(route, status)] = (
                self.requests.labels(route, str(status)), self.latency.labels(route))
        return found

    def count(self, route: str, status: int, seconds: float) -> None:
        counter, latency = self.bound(route, status)
        counter.inc()
        latency.observe(seconds)
