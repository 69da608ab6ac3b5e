"""The partner API as an aiohttp application: identity, rate limit, validation, relay.

Every `/v1/` request passes, in order: the identity check (certificate pin read from the
TLS connection itself, source address, API key: `identity.identify`), the partner's rate
limit, the call's role, the Idempotency-Key on POSTs, the content type and size, and the
wire schema. Only then is it relayed to TXN with the partner named by EIG. Any refusal is
problem+json with a stable `code`; refusals of identity, and partner calls refused for who
made them (`REFUSED`), whether by EIG, TXN or RPT, also go to the audit log.
"""

from __future__ import annotations

import logging
import math
import time

import msgspec
from aiohttp import web
from cryptography import x509

from corridor.api.schemas import Problem
from corridor.core.errors import BodyTooLarge, CorridorError, Refused, Unauthenticated
from corridor.eig.audit import SecurityAuditLog
from corridor.eig.documents import read_answer
from corridor.eig.errors import (
    BadRequest,
    RateLimited,
    UnsupportedMediaType,
)
from corridor.eig.identity import Caller, Peer, Refusal, certificate_refusal, identify
from corridor.eig.metrics import EigMetrics
from corridor.eig.openapi import document_bytes
from corridor.eig.partners import PartnerDirectory
from corridor.eig.ratelimit import RateLimiter
from corridor.eig.requests import IDEMPOTENCY_KEY, OPERATIONS, Operation, decode
from corridor.eig.upstream import Answer, Upstream
from corridor.pki.credentials import hash_api_key
from corridor.pki.issue import fingerprint
from corridor.pki.tls import ContextHolder
from corridor.settings import Settings
from corridor.site.model import Partner
from corridor.tracing import Tracing, current, passed_on, unsampled, wants_recording
from corridor.web import BoundMetrics, Handler, error_middleware

log = logging.getLogger("corridor.eig")

MAX_BODY = 64 * 1024
PARTNER = web.AppKey("partner", Partner)

# The statuses of a partner call refused for who made it, not for what it said (that is
# 400, 404, 409, 422): a bad, stale or missing callback signature, a payout or report of
# another partner, a call outside the partner's role. Each is audited with its problem
# `code` as the reason, whichever server refused it; any other answer costs nothing more.
REFUSED = frozenset({401, 403})
_PROBLEM = msgspec.json.Decoder(Problem)


def _bearer(request: web.Request) -> str | None:
    value = request.headers.get("Authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def follow_limiter(settings: Settings) -> RateLimiter:
    """How many of each partner's sampled traces a second EIG records (`trace_follow`)."""
    return RateLimiter(settings.trace_follow, max(1, math.ceil(settings.trace_follow)))


class Gateway:
    def __init__(self, partners: PartnerDirectory, upstreams: dict[str, Upstream],
                 audit: SecurityAuditLog, metrics: EigMetrics, limiter: RateLimiter,
                 contexts: ContextHolder, *, tracing: Tracing | None = None,
                 trace_follow: RateLimiter | None = None) -> None:
        self.partners = partners
        self.tracing = tracing or Tracing.off()
        self.trace_follow = trace_follow or follow_limiter(Settings())
        self.contexts = contexts  # the partner listener's TLS: its CRL's revoked serials
        self.upstreams = upstreams  # "txn" and "rpt"
        self.audit = audit
        self.metrics = metrics
        self.limiter = limiter
        self._decisions: dict[tuple[str | None, str, str | None], Partner | Refusal] = {}
        self._decided_for: object = None
        self.edge = BoundMetrics(metrics.requests, metrics.latency)

    # -- identity ---------------------------------------------------------------------

    @staticmethod
    def peer(request: web.Request) -> Peer:
        """What the connection presents, read once for it."""
        proto = request.protocol
        known = getattr(proto, "corridor_peer", None)
        if known is not None:
            return known
        transport = request.transport
        sslobj = transport.get_extra_info("ssl_object") if transport else None
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        address = transport.get_extra_info("peername") if transport else None
        source_ip = address[0] if address else ""
        if der:
            cert = x509.load_der_x509_certificate(der)
            known = Peer(fingerprint(cert), der, cert.serial_number,
                         cert.not_valid_after_utc.timestamp(), source_ip)
        else:
            known = Peer(None, None, None, None, source_ip)
        if hasattr(proto, "corridor_peer"):
            proto.corridor_peer = known
        return known

    def decide(self, caller: Caller) -> Partner | Refusal:
        """`identify`, remembered per (certificate, address, key) until the partner
        directory is reloaded: the decision is a pure function of those and the directory,
        and the address check and key hash are the costly part of a small request."""
        directory = self.partners.directory
        if directory is not self._decided_for or len(self._decisions) > 4096:
            self._decisions = {}
            self._decided_for = directory
        key = (caller.fingerprint, caller.source_ip, caller.api_key)
        verdict = self._decisions.get(key)
        if verdict is None:
            verdict = self._decisions[key] = identify(directory, caller)
        return verdict

    def authenticate(self, request: web.Request) -> Partner:
        peer = self.peer(request)
        caller = Caller(fingerprint=peer.fingerprint, source_ip=peer.source_ip,
                        api_key=_bearer(request))
        directory = self.partners.directory
        verdict = certificate_refusal(peer, self.contexts.revoked, time.time())
        if verdict is None:
            verdict = self.decide(caller)
        if isinstance(verdict, Refusal):
            subject = None
            if peer.der:
                subject = x509.load_der_x509_certificate(peer.der).subject.rfc4514_string()
            self.refused(verdict.code, caller.source_ip, subject, caller.fingerprint,
                         directory.claimed(caller), f"{request.method} {request.path}")
            cls = Unauthenticated if verdict.status == 401 else Refused
            err = cls(_REFUSAL_DETAIL[verdict], code=verdict.code)
            err.closes_connection = verdict.code in _CLOSES_CONNECTION
            raise err
        return verdict

    def refused(self, reason: str, source_ip: str | None, subject: str | None,
                print_: str | None, claimed: str | None, request: str | None = None,
                detail: str | None = None, *, partner: str | None = None,
                transfer_id: str | None = None) -> None:
        self.metrics.refusals.labels(reason, partner or claimed or "").inc()
        self.audit.refusal(source_ip=source_ip, reason=reason, subject=subject,
                           fingerprint=print_, partner_claimed=claimed, partner=partner,
                           transfer_id=transfer_id, request=request, detail=detail)

    def refused_call(self, request: web.Request, reason: str, detail: str | None,
                     transfer_id: str | None) -> None:
        """Audit a call of an authenticated partner refused for who made it. The line names
        the partner and its certificate; never the signature, API key or body."""
        peer = self.peer(request)
        self.refused(reason, peer.source_ip, None, peer.fingerprint, None,
                     f"{request.method} {request.path}", detail,
                     partner=request[PARTNER].id, transfer_id=transfer_id)

    # -- the pipeline -----------------------------------------------------------------

    def admit(self, request: web.Request) -> None:
        """Identify the partner of a `/v1/` call and take from its rate limit, or refuse."""
        if request.path.startswith("/v1/") or request.path == "/v1":
            partner = self.authenticate(request)
            wait = self.limiter.take(partner.id)
            if wait:
                raise RateLimited(f"rate limit of {partner.id} reached", retry_after=wait)
            request[PARTNER] = partner

    def count(self, request: web.Request, response: web.StreamResponse,
              seconds: float) -> None:
        route = getattr(request.match_info.route, "name", None) or "other"
        self.edge.count(route, response.status, seconds)

    def relay_handler(self, call: Operation) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            partner = request[PARTNER]
            # The transfer the call is about, for the audit line if it is refused: the
            # path's, or a receiver callback's once its body is decoded (the body of a call
            # refused on role is not read).
            transfer_id = request.match_info.get("id")
            try:
                roles = {"send": partner.sends, "receive": partner.receives}
                if not roles.get(call.role, True):
                    raise Refused(f"{partner.id} is not a {call.role} partner: "
                                  f"{call.method} {request.path} is not for it",
                                  code="role_not_allowed")
                headers = {"Corridor-Partner": partner.id}
                traceparent = passed_on()  # this hop's trace, on to TXN
                if traceparent is not None:
                    headers["traceparent"] = traceparent
                body: bytes | None = None
                path = call.internal or "/internal" + request.path
                if call.method == "POST":
                    key = request.headers.get("Idempotency-Key")
                    if key is None:
                        raise BadRequest("every POST needs an Idempotency-Key header",
                                         code="idempotency_key_missing")
                    if not IDEMPOTENCY_KEY.match(key):
                        raise BadRequest("Idempotency-Key is 1-128 of A-Z a-z 0-9 . _ : -",
                                         code="idempotency_key_invalid")
                    headers["Idempotency-Key"] = key
                    if call.form:  # an answer with documents: multipart, checked here
                        body = msgspec.json.encode(await read_answer(request))
                        value = None
                    else:
                        body = await self.read_body(request)
                        value = decode(call, body)
                    headers["Content-Type"] = "application/json"
                    if call.name == "receiver_callback":
                        transfer_id = value.transfer_id
                        hop = current()
                        if hop is not None:
                            hop.set("corridor.transfer_id", transfer_id)
                        signature = request.headers.get("Corridor-Signature")
                        if not signature:
                            raise Unauthenticated("the callback is not signed",
                                                  code="signature_missing")
                        headers["Corridor-Signature"] = signature
                elif call.query is not None:
                    path += call.query(request.query)
                answer = await self.relay(call, path, headers, body)
            except CorridorError as exc:
                if exc.status in REFUSED:
                    self.refused_call(request, exc.code, exc.detail, transfer_id)
                raise
            if answer.status in REFUSED:
                self.refused_answer(request, call, answer, transfer_id)
            return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

        return self.traced(call, handle)

    def traced(self, call: Operation, handle: Handler) -> Handler:
        """`handle` in EIG's hop of the call, in the trace of the partner's `traceparent`
        (`corridor.tracing`: recorded when it is sampled, or for a share of the calls that
        come without one)."""
        tracing = self.tracing

        async def in_hop(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("traceparent")
            if (header is not None and tracing.on and wants_recording(header)
                    and self.trace_follow.take(request[PARTNER].id)):
                # Past the partner's share of recorded traces: the trace goes on, and no
                # hop of the hub records it.
                header = unsampled(header)
            with tracing.hop(f"eig {call.name}", header) as hop:
                if hop.span is None:
                    return await handle(request)
                peer = self.peer(request)
                key = _bearer(request)
                hop.span.set_attributes({
                    "corridor.partner": request[PARTNER].id,
                    "client.address": peer.source_ip or "",
                    "tls.client.fingerprint": peer.fingerprint or "",
                    # The key's id: the start of its SHA-256 (what secrets/ stores), never
                    # the key.
                    "corridor.api_key.id": hash_api_key(key).split(":")[-1][:12] if key else "",
                    "corridor.transfer_id": request.match_info.get("id", "")})
                response = await handle(request)
                hop.set("http.response.status_code", response.status)
                return response

        return in_hop

    def refused_answer(self, request: web.Request, call: Operation, answer: Answer,
                       transfer_id: str | None) -> None:
        """Audit a refusal TXN or RPT answered, with its problem `code` as the reason."""
        try:
            found = _PROBLEM.decode(answer.body)
            reason, detail = found.code, (found.detail or "")[:200]
        except msgspec.DecodeError:  # not problem+json: still a refusal to audit
            reason, detail = f"{call.upstream}_refused", None
        self.refused_call(request, reason, detail, transfer_id)

    async def read_body(self, request: web.Request) -> bytes:
        ctype = request.headers.get("Content-Type", "")
        if ctype.split(";")[0].strip().lower() != "application/json":
            raise UnsupportedMediaType("send the body as application/json")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise BodyTooLarge(f"the body is larger than {MAX_BODY} bytes")
        return await request.read()  # client_max_size stops a chunked body that grows

    async def relay(self, call: Operation, path: str, headers: dict[str, str],
                    body: bytes | None):
        try:
            return await self.upstreams[call.upstream].relay(call.method, path, headers, body,
                                                             coalesced=call.coalesced)
        except CorridorError:
            self.metrics.upstream_errors.inc()
            raise

    # -- the applications -------------------------------------------------------------

    def partner_app(self, hello: bool = False) -> web.Application:
        """The partner API. `hello` adds GET /v1/hello, a minimal endpoint behind the same
        TLS, identity check and rate limit, which `corridor bench eig` compares against."""
        app = web.Application(middlewares=[error_middleware(self.count, self.admit)],
                              client_max_size=MAX_BODY, handler_args={"access_log": None})
        for call in OPERATIONS:
            app.router.add_route(call.method, call.path, self.relay_handler(call),
                                 name=call.name)
        from corridor.eig.iso import IsoDoors

        for _call, route in IsoDoors(self).routes():
            app.router.add_routes([route])
        app.router.add_get("/openapi.json", openapi_handler, name="openapi")
        if hello:
            app.router.add_get("/v1/hello", _hello, name="hello")
        return app


async def _hello(request: web.Request) -> web.Response:
    return web.json_response({"hello": request[PARTNER].id})


async def openapi_handler(request: web.Request) -> web.Response:
    return web.Response(body=document_bytes(), content_type="application/json")


_REFUSAL_DETAIL = {
    Refusal.NO_CERTIFICATE: "a client certificate is required",
    Refusal.CERTIFICATE_REVOKED: "the client certificate of this connection has been revoked",
    Refusal.CERTIFICATE_EXPIRED: "the client certificate of this connection has expired",
    Refusal.NOT_PINNED: "the client certificate is not the one registered for any partner",
    Refusal.PARTNER_DISABLED: "this partner is disabled",
    Refusal.IP_NOT_ALLOWED: "the source address is not in this partner's allowlist",
    Refusal.KEY_MISSING: "send the API key as Authorization: Bearer <key>",
    Refusal.KEY_INVALID: "the API key is not valid",
    Refusal.KEY_OTHER_PARTNER: "the API key does not belong to the certificate's partner",
}

# Refusals no later request on the connection can pass: it is closed after the answer.
_CLOSES_CONNECTION = frozenset({Refusal.CERTIFICATE_REVOKED.code,
                                Refusal.CERTIFICATE_EXPIRED.code})
