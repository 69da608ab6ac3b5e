"""Sender callbacks: delivery of the `sender_callback` outbox messages that every final
state (and COMPLIANCE_HOLD) writes in the same commit as the state change.

Each round claims the due messages (up to a limit), POSTs them concurrently (bounded) over one pool
of kept-alive HTTPS connections per callback URL (`corridor.httppool`), signed with that
partner's secret (`Corridor-Signature`), and applies every result through the group-commit
writer. A message that fails is due again after exponential backoff (the partner file's
`callback_retry`, else the hub's settings), or after the partner's `Retry-After` when its
answer carries one and it is later; once it has failed for `retry_for`, it is parked
(`dead`) for `corridor callbacks replay`. Delivery is at least once: a partner recognises a
repeat by the `event_id` (also in the `Corridor-Event-Id` header); `Corridor-Delivery-Id`
names one attempt (`<message>-<attempt>`), and `GET /v1/events` replays what it missed.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import msgspec
from opentelemetry.trace import SpanKind

from corridor.core import signature
from corridor.httppool import Pool, TransportError, TransportTimeout
from corridor.pki.credentials import read_hmac_secret
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client_to_partner
from corridor.settings import Settings
from corridor.site.model import Partner
from corridor.store.rows import OutboxRow
from corridor.tracing import Hop
from corridor.txn.commands.outbox import Delivered
from corridor.txn.engine import Engine
from corridor.txn.worker import Backoff, Pump

log = logging.getLogger("corridor.txn.delivery")
KIND = "sender_callback"


@dataclass(frozen=True, slots=True)
class Policy:
    """How sender callbacks are retried; from the settings, so tests can shorten it."""

    retry_for: timedelta
    backoff: Backoff
    timeout: float
    concurrency: int = 64

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            retry_for=timedelta(seconds=settings.callback_retry_for_s),
            backoff=Backoff(settings.callback_backoff_s, settings.callback_backoff_max_s),
            timeout=settings.callback_timeout_s,
        )

    def of_partner(self, partner: Partner | None) -> Policy:
        """The partner's own schedule (its file's `callback_retry`), else this one."""
        own = partner.callback_retry if partner is not None else None
        if own is None:
            return self
        return Policy(retry_for=timedelta(seconds=own.retry_for_s),
                      backoff=Backoff(own.backoff_s, own.backoff_max_s),
                      timeout=self.timeout, concurrency=self.concurrency)


class _EventId(msgspec.Struct):
    event_id: str


_event_id = msgspec.json.Decoder(_EventId).decode


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks for (RFC 9110 10.2.3: seconds or an HTTP date),
    or None when there is none or it does not parse."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class SenderCallbacks(Pump):
    """The sender-callback pump."""

    kind = KIND

    def __init__(self, engine: Engine, policy: Policy, *, idle: float = 0.05,
                 tls: ssl.SSLContext | None = None) -> None:
        self.policy = policy
        # The lease outlasts an attempt that times out, so a message is never sent twice
        # at once; the pool bounds what is in flight.
        super().__init__(engine, idle=idle, inflight=self.policy.concurrency * 4,
                         lease=timedelta(seconds=self.policy.timeout * 2 + 5))
        self._tls = tls
        self._pools: dict[str, tuple[Pool, str]] = {}  # callback URL -> (pool, path)
        self._secrets: dict[str, bytes] = {}
        self._secrets_of = engine.site  # the site the secrets were read for
        self.delivered = 0

    def _pool(self, url: str) -> tuple[Pool, str]:
        """The kept-alive pool for a callback URL's origin, and the URL's path."""
        found = self._pools.get(url)
        if found is None:
            if self._tls is None:  # every send partner shares the trust anchors
                self._tls = hub_client_to_partner(Layout(self.engine.site.root))
            parts = urlsplit(url)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            found = self._pools[url] = (
                Pool(url, self._tls, self.policy.concurrency, timeout=self.policy.timeout), path)
        return found

    async def close(self) -> None:
        for pool, _ in self._pools.values():
            pool.close()
        self._pools.clear()

    async def handle(self, row: OutboxRow) -> None:
        await self._deliver(row)

    def _secret(self, partner_id: str) -> bytes | None:
        if self.engine.site is not self._secrets_of:  # reloaded: a secret may have moved
            self._secrets, self._secrets_of = {}, self.engine.site
        if partner_id not in self._secrets:
            partner = self.engine.site.partner(partner_id)
            path = partner.callback_secret_file if partner else None
            if path is None or not path.exists():
                return None
            self._secrets[partner_id] = read_hmac_secret(path)
        return self._secrets[partner_id]

    async def _deliver(self, message: OutboxRow) -> None:
        # In the trace of the hop whose change the callback reports (its outbox message
        # keeps it), passed on to the send partner.
        with self.engine.tracing.hop(
                "txn sender_callback", message.traceparent,
                {"corridor.transfer_id": message.transfer_id or "",
                 "corridor.partner": message.partner_id,
                 "corridor.attempt": message.attempts}, kind=SpanKind.CLIENT,
                root=False) as hop:
            error, wait = await self._post(message, hop)
            hop.set("corridor.outcome", "delivered" if error is None else error)
            await self._record(message, error, wait)

    async def _record(self, message: OutboxRow, error: str | None,
                      wait: float | None) -> None:
        now = self.engine.clock()
        policy = self.policy.of_partner(self.engine.site.partner(message.partner_id))
        retry_at = policy.backoff.after(now, message.attempts)
        if error is None:
            self.delivered += 1
        else:
            if wait is not None:
                # The partner said when to come back: not sooner, and never beyond the
                # retry period (the message is parked at its end either way).
                asked = now + timedelta(seconds=min(wait, policy.retry_for.total_seconds()))
                retry_at = max(retry_at, asked)
                error = f"{error}, Retry-After {wait:g} s"
            log.info("sender callback %d to %s failed (attempt %d): %s", message.id,
                     message.partner_id, message.attempts, error)
        await self.engine.writer.submit(Delivered(
            message, error is None, error, now, retry_at, policy.retry_for))

    async def _post(self, message: OutboxRow, hop: Hop) -> tuple[str | None, float | None]:
        """One attempt: (None, None) when the partner acknowledged it, else why not and
        the seconds its Retry-After asked for (None without one)."""
        error = await self._attempt(message, hop)
        return error if isinstance(error, tuple) else (error, None)

    async def _attempt(self, message: OutboxRow,
                       hop: Hop) -> str | tuple[str, float | None] | None:
        partner = self.engine.site.partner(message.partner_id)
        if partner is None or not partner.callback_url:
            return f"{message.partner_id} has no callback_url"
        secret = self._secret(message.partner_id)
        if secret is None:
            return f"{message.partner_id} has no callback secret"
        body, ctype = message.payload.encode(), "application/json"
        event_id = _event_id(body).event_id
        if partner.iso20022 is not None:  # a bank that chose ISO 20022 hears a pacs.002
            from corridor.iso20022.sender import sender_callback

            body, ctype = sender_callback(body), "application/xml"
        headers = {"Content-Type": ctype,
                   signature.HEADER: signature.sign(secret, body, int(time.time())),
                   "Corridor-Event-Id": event_id,
                   "Corridor-Delivery-Id": f"{message.id}-{message.attempts + 1}"}
        hop.headers(headers)
        try:
            pool, path = self._pool(partner.callback_url)
        except (ValueError, OSError) as exc:  # a URL's bad port; the TLS files unreadable
            return f"{type(exc).__name__}: {exc}"[:300]
        try:
            # Delivered at least once: the partner knows a repeat by its event id.
            resp = await pool.request("POST", path, headers, body, replayable=True)
        except TransportTimeout:
            return "timed out"
        except TransportError as exc:
            return str(exc)[:300]
        hop.set("http.response.status_code", resp.status)
        if 200 <= resp.status < 300:
            return None
        return f"HTTP {resp.status}", retry_after(resp.headers.get("retry-after"),
                                                  self.engine.clock())
