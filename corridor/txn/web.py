"""The HTTP edge of TXN's internal API: problem+json answers, the middleware that maps
every error to one (and counts each request), the metrics, and the checks of who is
calling (the common name of the client certificate, the partner EIG relays for)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, Histogram

from corridor.core.errors import CorridorError, Refused, Unauthenticated
from corridor.pki.tls import peer_common_name
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from corridor.txn.wire import encode

log = logging.getLogger("corridor.txn.server")
MAX_BODY = 64 * 1024
PARTNER = "Corridor-Partner"
JSON = "application/json"
PROBLEM = "application/problem+json"
HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
              413: "body_too_large"}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BodyTooLarge(CorridorError):
    status = 413
    code = "body_too_large"
    title = "Request body too large"


ENGINE = web.AppKey("engine", Engine)
CONNECTORS = web.AppKey("connectors", Connectors)
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
REGISTRY = web.AppKey("registry", CollectorRegistry)
TRACER = web.AppKey("tracer", Tracer)


def problem_body(status: int, code: str, detail: str, **extra: object) -> bytes:
    return encode({"type": f"https://corridor.example/problems/{code}",
                   "title": code.replace("_", " "), "status": status, "code": code,
                   "detail": detail, **extra})


def problem(status: int, code: str, detail: str, **extra: object) -> web.Response:
    return web.Response(status=status, body=problem_body(status, code, detail, **extra),
                        content_type=PROBLEM)


def caller(request: web.Request) -> str | None:
    """The common name of the verified client certificate (None over plain TCP)."""
    return peer_common_name(request.transport)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    try:
        response = await handler(request)
    except CorridorError as exc:
        response = web.Response(status=exc.status, body=encode(exc.problem()),
                                content_type=PROBLEM)
    except web.HTTPException as exc:
        code = HTTP_CODES.get(exc.status, f"http_{exc.status}")
        response = problem(exc.status, code, exc.reason)
    except Exception:  # the last line of defence: log it, tell the caller nothing inside
        log.exception("unhandled error on %s %s", request.method, request.path)
        response = problem(500, "internal_error", "the request failed inside TXN")
    counted = request.app[METRICS].bound(route, response.status)
    counted[0].inc()
    counted[1].observe(time.perf_counter() - started)
    return response


class Metrics(dict[str, Any]):
    """TXN's Prometheus metrics, with the labelled children of each (route, status) looked
    up once rather than on every request."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(
            requests=Counter("corridor_txn_requests", "Internal API requests",
                             ["route", "status"], registry=registry),
            latency=Histogram("corridor_txn_request_seconds", "Internal API latency",
                              ["route"], registry=registry),
            batches=Histogram("corridor_txn_batch_size", "Commands per group commit",
                              buckets=(1, 4, 16, 64, 256, 1024, 4096), registry=registry),
            commit=Histogram("corridor_txn_batch_seconds", "Group commit duration",
                             registry=registry),
        )
        self._bound: dict[tuple[str, int], tuple[Any, Any]] = {}

    def bound(self, route: str, status: int) -> tuple[Any, Any]:
        """(request counter, latency histogram) children for a route and status."""
        found = self._bound.get((route, status))
        if found is None:
            found = self._bound[(route, status)] = (
                self["requests"].labels(route, str(status)), self["latency"].labels(route))
        return found


def allow(*names: str) -> Callable[[Handler], Handler]:
    """Let only callers whose certificate CN is one of `names` reach the handler."""
    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            cn = caller(request)
            if cn not in names:
                raise Refused(f"{cn or 'this caller'} may not call {request.path}",
                              code="caller_not_allowed")
            return await handler(request)
        return checked
    return wrap


def partner_id(request: web.Request) -> str:
    value = request.headers.get(PARTNER)
    if not value:
        raise Unauthenticated(f"the {PARTNER} header is missing", code="partner_missing")
    return value


def reply(status: int, body: bytes | str) -> web.Response:
    return web.Response(status=status, body=body.encode() if isinstance(body, str) else body,
                        content_type=JSON)
