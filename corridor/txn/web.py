"""TXN's side of the HTTP edge (problem+json and the error middleware are `corridor.web`'s):
how each request is counted, the metrics, and the checks of who is calling (the common
name of the client certificate, the partner EIG relays for)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from opentelemetry.trace import Tracer
from prometheus_client import CollectorRegistry, Counter, Histogram

from corridor.core.errors import Refused, Unauthenticated
from corridor.pki.tls import peer_common_name
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine
from corridor.web import BoundMetrics, Handler

MAX_BODY = 64 * 1024
PARTNER = "Corridor-Partner"
JSON = "application/json"
ENGINE = web.AppKey("engine", Engine)
CONNECTORS = web.AppKey("connectors", Connectors)
METRICS: web.AppKey[TxnMetrics] = web.AppKey("metrics")
REGISTRY = web.AppKey("registry", CollectorRegistry)
TRACER = web.AppKey("tracer", Tracer)


def caller(request: web.Request) -> str | None:
    """The common name of the verified client certificate (None over plain TCP)."""
    return peer_common_name(request.transport)


def count(request: web.Request, response: web.StreamResponse, seconds: float) -> None:
    """Count a request by its route and status (the edge middleware's `on_answer`)."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].edge.count(route, response.status, seconds)


class TxnMetrics(dict[str, Any]):
    """TXN's Prometheus metrics, with the labelled children of each (route, status) looked
    up once rather than on every request."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(
            requests=Counter("corridor_txn_requests", "Internal API requests",
                             ["route", "status"], registry=registry),
            latency=Histogram("corridor_txn_request_seconds", "Internal API latency",
                              ["route"], registry=registry),
            groups=Histogram("corridor_txn_group_commit_size", "Commands per group commit",
                              buckets=(1, 4, 16, 64, 256, 1024, 4096), registry=registry),
            commit=Histogram("corridor_txn_group_commit_seconds", "Group commit duration",
                             registry=registry),
        )
        self.edge = BoundMetrics(self["requests"], self["latency"])


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
