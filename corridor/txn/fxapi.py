"""The treasury's door into TXN (docs/internal-api.md): push a rate, confirm one that moved
beyond the band, read the rates quotes use. Only an operator's client certificate from the
hub CA (CN `operator-<name>`, `corridor rpt operator-issue NAME`), not revoked, may call:
the operator recorded with the rate is the certificate's name, never a field of the body,
so the second operator of a four-eyes confirmation is a second certificate."""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from corridor.core.errors import Refused
from corridor.pki.tls import ContextHolder, peer_certificate
from corridor.store.fx import RateRow
from corridor.txn import fx
from corridor.txn.engine import Engine, decode_body
from corridor.txn.web import ENGINE, reply
from corridor.txn.wire import encode

CONTEXTS = web.AppKey("contexts", ContextHolder)
_PREFIX = "operator-"


class RateView(msgspec.Struct, kw_only=True):
    id: int
    pair: str
    rate: str
    source: str
    at: str
    state: str
    pushed_by: str
    move_bps: int | None = None
    confirmed_by: str | None = None


def _view(row: RateRow) -> RateView:
    return RateView(id=row.id, pair=row.pair, rate=row.rate, source=row.source,
                    at=row.given_at, state=row.state, pushed_by=row.recorded_by,
                    move_bps=row.move_bps, confirmed_by=row.confirmed_by)


def operator(request: web.Request) -> str:
    """The operator named by the connection's certificate, which must still stand."""
    cert = peer_certificate(request.transport)
    cn = cert.common_name if cert is not None else None
    if cert is None or not cn or not cn.startswith(_PREFIX):
        raise Refused(f"{cn or 'this caller'} may not call {request.path}: an operator's "
                      "certificate is required", code="caller_not_allowed")
    contexts = request.app.get(CONTEXTS)
    if contexts is not None and cert.serial in contexts.revoked:
        raise Refused(f"certificate {cn!r} has been revoked", code="certificate_revoked")
    if time.time() >= cert.not_after:
        raise Refused(f"certificate {cn!r} has expired", code="certificate_expired")
    return cn.removeprefix(_PREFIX)


async def push_rate(request: web.Request) -> web.StreamResponse:
    by = operator(request)
    engine: Engine = request.app[ENGINE]
    body = decode_body(await request.read(), RatePush)
    tariff = engine.site.hub.tariff
    pushed = await engine.read(lambda conn: fx.push(
        conn, tariff, body.pair, body.rate, source=body.source, by=by, now=engine.clock(),
        given_at=body.at))
    engine.rates = await engine.read(fx.book, tariff)
    if pushed.pending:
        raise fx.refusal(pushed, tariff.fx_band_bps)
    return reply(201, encode(_view(pushed.row)))


async def confirm_rate(request: web.Request) -> web.StreamResponse:
    by = operator(request)
    engine: Engine = request.app[ENGINE]
    try:
        rate_id = int(request.match_info["id"])
    except ValueError:
        from corridor.core.errors import NotFound

        raise NotFound(f"no rate {request.match_info['id'][:20]}", code="rate_not_found") from None
    tariff = engine.site.hub.tariff
    row = await engine.read(lambda conn: fx.confirm(conn, tariff, rate_id, by, engine.clock()))
    engine.rates = await engine.read(fx.book, tariff)
    return reply(200, encode(_view(row)))


class RatePush(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A rate pushed: `rate` a decimal string (any other JSON value, a number above all,
    is refused `invalid_rate` by `core.fx.parse_rate`, never rounded), `at` when the source
    gave it (RFC 3339; default now)."""

    pair: str
    rate: object
    source: str = "treasury"
    at: str | None = None


def routes(app: web.Application) -> None:
    app.router.add_post("/internal/v1/fx/rates", push_rate)
    app.router.add_post("/internal/v1/fx/rates/{id}/confirm", confirm_rate)
