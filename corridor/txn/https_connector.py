"""The `https-json` connector: TXN speaking the receive-partner protocol
(docs/receive-partner-api.md) to a partner's `endpoint` over mutual TLS.

One pool of kept-alive connections per receive partner (`corridor.httppool`) carries every
call with the hub's client certificate (pki/hub/txn.crt, CN=txn); the partner's server
certificate must chain to the partner CA. Each call has an explicit timeout; connection
errors and 5xx are retried with exponential backoff. A submission is idempotent by
`Idempotency-Key: <transfer id>`, so a retry (now, or after a crash, or after a status
query said NOT_FOUND) can never credit the beneficiary twice. A submission that timed out
is NOT retried here: the partner may have credited already, so the outcome is `unknown`
and the worker asks for status instead.

Every request body is signed with the partner's HMAC secret (`Corridor-Signature`), the
same scheme as the callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import msgspec

from corridor.api.receive_partner import (
    PayoutAnswer,
    PayoutParty,
    PayoutRequest,
    RecallAnswer,
    RecallAsk,
    ValidateRequest,
    Validation,
)
from corridor.core import signature
from corridor.core.errors import Unavailable
from corridor.core.money import format_minor
from corridor.httppool import ConnectFailed, Pool, TransportError, TransportTimeout
from corridor.pki.credentials import read_hmac_secret
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client_to_partner
from corridor.settings import Settings
from corridor.site.model import Partner, Site
from corridor.tracing import Hop, current
from corridor.txn.connectors import AccountCheck, Payout, PayoutResult, RecallResult, register

log = logging.getLogger("corridor.txn.https")
OUTCOMES = {"PENDING": "pending", "SUCCESS": "completed", "FAILURE": "failed"}
RECALLS = {"ACCEPTED": "accepted", "REFUSED": "refused", "RETURNED": "returned"}
# Refusals that mean "not now" rather than "never": treat as no answer.
NOT_DEFINITE = frozenset({408, 409, 425, 429})


@dataclass(frozen=True, slots=True)
class Timing:
    """How long one call may take and how often a failed call is tried again."""

    timeout: float  # seconds per attempt
    retries: int  # extra attempts after connection errors and 5xx
    backoff: float  # first pause; doubles each retry

    @classmethod
    def of(cls, settings: Settings) -> Timing:
        return cls(timeout=settings.connector_timeout_s, retries=settings.connector_retries,
                   backoff=settings.connector_backoff_s)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int | None  # None: no answer (connection error or timeout)
    body: bytes = b""
    timed_out: bool = False
    not_sent: bool = False  # no attempt got a connection: the partner never saw it


class HttpsJsonConnector:
    def __init__(self, site: Site, partner: Partner, timing: Timing,
                 tls: ssl.SSLContext | None = None, pool: int = 64) -> None:
        if not partner.endpoint:
            raise ValueError(f"receive partner {partner.id} has no endpoint")
        if partner.callback_secret_file is None:
            raise ValueError(f"receive partner {partner.id} has no callback_secret")
        self.partner = partner
        self.base = partner.endpoint.rstrip("/")
        self.secret = read_hmac_secret(partner.callback_secret_file)
        self.timing = timing
        self.tls = tls or hub_client_to_partner(Layout(site.root))
        self.pool = pool
        self._prefix = urlsplit(self.base).path
        self._pool: Pool | None = None
        self._encode = msgspec.json.Encoder().encode

    def _open(self) -> Pool:
        if self._pool is None:
            self._pool = Pool(self.base, self.tls, self.pool, timeout=self.timing.timeout)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    async def _call(self, method: str, path: str, body: bytes | None = None,
                    key: str | None = None, retry_timeouts: bool = True,
                    content_type: str = "application/json") -> Answer:
        """One protocol call with retries; the last answer (or the lack of one)."""
        pool = self._open()
        delay = self.timing.backoff
        answer = Answer(None)
        not_sent = True  # until an attempt gets a connection
        hop = current()  # the payout's hop (corridor.txn.worker): each attempt a step of it
        for attempt in range(self.timing.retries + 1):
            with (hop.child(f"{method} {path}", {"server.address": self.base,
                                                 "corridor.attempt": attempt + 1})
                  if hop is not None else Hop(None, None)) as step:
                answer = await self._attempt(pool, step, method, path, body, key, not_sent,
                                             content_type)
            if answer.timed_out and not retry_timeouts:
                return answer
            not_sent = answer.not_sent
            if answer.status is not None and answer.status < 500:
                return answer
            if attempt < self.timing.retries:
                await asyncio.sleep(delay)
                delay *= 2
        return answer

    async def _attempt(self, pool: Pool, step: Hop, method: str, path: str,
                       body: bytes | None, key: str | None, not_sent: bool,
                       content_type: str = "application/json") -> Answer:
        """One try of a call, as the step `step` of its trace; `not_sent`: no attempt
        before it got a connection."""
        headers = {}
        if body is not None:
            headers["Content-Type"] = content_type
            # Signed afresh on each attempt so that a late retry is not stale.
            headers[signature.HEADER] = signature.sign(self.secret, body, int(time.time()))
        if key is not None:
            headers["Idempotency-Key"] = key
        step.headers(headers)
        try:
            # Every call here may be sent twice: a read, an account check, or a
            # submission under its Idempotency-Key.
            got = await pool.request(method, self._prefix + path, headers, body,
                                     replayable=True)
        except ConnectFailed as exc:
            log.debug("%s %s%s: %s", method, self.base, path, exc)
            step.set("error.type", "connect failed")
            return Answer(None, not_sent=not_sent)
        except TransportTimeout:
            step.set("error.type", "timeout")
            return Answer(None, timed_out=True)
        except TransportError as exc:
            log.debug("%s %s%s failed: %s", method, self.base, path, exc)
            step.set("error.type", str(exc)[:200])
            return Answer(None)
        step.set("http.response.status_code", got.status)
        return Answer(got.status, got.body)

    async def validate_account(self, payout_method: str, account: str,
                               name: str | None) -> AccountCheck:
        ask = ValidateRequest(account=account, payout_method=payout_method,  # type: ignore[arg-type]  # the site checks the method against the Literal
                              currency=self.partner.currency, name=name)
        answer = await self._call("POST", "/v1/accounts/validate", self._encode(ask))
        if answer.status == 200:
            got = msgspec.json.decode(answer.body, type=Validation)
            return AccountCheck(valid=got.valid, holder_name=got.holder_name)
        if answer.status is not None and 400 <= answer.status < 500:
            return AccountCheck(valid=False)
        raise Unavailable(f"{self.partner.id} did not answer the account check",
                          code="partner_unavailable")

    def payout_body(self, payout: Payout) -> bytes:
        b: dict[str, Any] = payout.beneficiary
        sender: dict[str, Any] = payout.sender
        request = PayoutRequest(
            payout_id=payout.transfer_id,
            amount=format_minor(payout.amount.minor, payout.amount.currency),
            currency=payout.amount.currency,
            payout_method=payout.payout_method,  # type: ignore[arg-type]  # the site checks the method against the Literal
            beneficiary=PayoutParty(name=b.get("name", ""), account=b.get("account")),
            sender=PayoutParty(name=sender.get("name", ""), country=sender.get("country")),
            purpose=payout.purpose,
        )
        return self._encode(request)

    async def submit_payout(self, payout: Payout, idempotency_key: str) -> PayoutResult:
        answer = await self._call("POST", "/v1/payouts", self.payout_body(payout),
                                  key=idempotency_key, retry_timeouts=False)
        return self._result(answer, submit=True)

    async def probe(self) -> bool:
        """Any HTTP answer below 500 to a status query of a payout that does not exist."""
        pool = self._open()
        try:
            got = await pool.request("GET", self._prefix + "/v1/payouts/corridor-probe", {})
        except TransportError:
            return False
        return got.status < 500

    async def query_status(self, payout: Payout, idempotency_key: str) -> PayoutResult:
        answer = await self._call("GET", f"/v1/payouts/{payout.transfer_id}")
        if answer.status == 404:
            return PayoutResult("not_found")
        return self._result(answer, submit=False)

    async def request_recall(self, payout: Payout, reason: str,
                             idempotency_key: str) -> RecallResult:
        body = self._encode(RecallAsk(payout_id=payout.transfer_id, reason=reason))
        answer = await self._call("POST", f"/v1/payouts/{payout.transfer_id}/recall", body,
                                  key=idempotency_key)
        status = answer.status
        if status is not None and 200 <= status < 300:
            try:
                got = msgspec.json.decode(answer.body, type=RecallAnswer)
            except msgspec.DecodeError:
                return RecallResult("unknown", reason="the partner's answer is not readable")
            return RecallResult(RECALLS[got.status], reason=got.reason,  # type: ignore[arg-type]  # RECALLS maps onto RecallResult's Literal
                                return_reference=got.return_reference)
        if status is not None and 400 <= status < 500 and status not in NOT_DEFINITE:
            return RecallResult("refused", reason=f"refused by {self.partner.id}: "
                                f"{_detail(answer.body) or f'HTTP {status}'}")
        why = "timed out" if answer.timed_out else (
            f"HTTP {status}" if status is not None else "no connection")
        return RecallResult("unknown", reason=f"{self.partner.id}: {why}")

    def _result(self, answer: Answer, submit: bool) -> PayoutResult:
        status = answer.status
        if status is not None and 200 <= status < 300:
            try:
                got = msgspec.json.decode(answer.body, type=PayoutAnswer)
            except msgspec.DecodeError:
                return PayoutResult("unknown", reason="the partner's answer is not readable")
            return PayoutResult(OUTCOMES[got.status],  # type: ignore[arg-type]  # OUTCOMES maps onto PayoutResult's Literal
                                partner_reference=got.partner_reference, reason=got.reason)
        if submit and status is not None and 400 <= status < 500 \
                and status not in NOT_DEFINITE:
            return PayoutResult("failed", reason=f"refused by {self.partner.id}: "
                                f"{_detail(answer.body) or f'HTTP {status}'}")
        why = "timed out" if answer.timed_out else (
            f"HTTP {status}" if status is not None else "no connection")
        unreachable = status is None
        if submit and answer.not_sent:
            return PayoutResult("not_sent", reason=f"{self.partner.id}: no connection",
                                unreachable=True)
        return PayoutResult("unknown", reason=f"{self.partner.id}: {why}",
                            unreachable=unreachable)


def _detail(body: bytes) -> str:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return ""
    if isinstance(data, dict):
        return str(data.get("detail") or data.get("reason") or data.get("code") or "")[:200]
    return ""


register("https-json",
         lambda site, partner, settings: HttpsJsonConnector(site, partner, Timing.of(settings)))
