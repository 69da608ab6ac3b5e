"""Sender callbacks: delivery of the `sender_callback` outbox messages that every final
state (and COMPLIANCE_HOLD) writes in the same commit as the state change.

Each round claims the due messages (up to a limit), POSTs them concurrently (bounded) over one pool
of kept-alive HTTPS connections per callback URL (`corridor.httppool`), signed with that
partner's secret (`Corridor-Signature`), and applies every result through the group-commit
writer. A message that fails is due again after exponential backoff; once it has failed
for `retry_for`, it is parked (`dead`) for `corridor callbacks replay`. Delivery is at
least once: a partner recognises a repeat by the payload's `event_id`.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from corridor.core import signature
from corridor.httppool import Pool, TransportError, TransportTimeout
from corridor.pki.credentials import read_hmac_secret
from corridor.pki.layout import Layout
from corridor.pki.tls import hub_client_to_partner
from corridor.settings import Settings
from corridor.store.rows import OutboxRow
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
        if partner_id not in self._secrets:
            partner = self.engine.site.partner(partner_id)
            path = partner.callback_secret_file if partner else None
            if path is None or not path.exists():
                return None
            self._secrets[partner_id] = read_hmac_secret(path)
        return self._secrets[partner_id]

    async def _deliver(self, message: OutboxRow) -> None:
        error = await self._post(message)
        now = self.engine.clock()
        if error is None:
            self.delivered += 1
        else:
            log.info("sender callback %d to %s failed (attempt %d): %s", message.id,
                     message.partner_id, message.attempts, error)
        await self.engine.writer.submit(Delivered(
            message, error is None, error, now,
            self.policy.backoff.after(now, message.attempts), self.policy.retry_for))

    async def _post(self, message: OutboxRow) -> str | None:
        """One attempt; None when the partner acknowledged it, else why not."""
        partner = self.engine.site.partner(message.partner_id)
        if partner is None or not partner.callback_url:
            return f"{message.partner_id} has no callback_url"
        secret = self._secret(message.partner_id)
        if secret is None:
            return f"{message.partner_id} has no callback secret"
        body, ctype = message.payload.encode(), "application/json"
        if partner.iso20022 is not None:  # a bank that chose ISO 20022 hears a pacs.002
            from corridor.iso20022.sender import sender_callback

            body, ctype = sender_callback(body), "application/xml"
        headers = {"Content-Type": ctype,
                   signature.HEADER: signature.sign(secret, body, int(time.time()))}
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
        if 200 <= resp.status < 300:
            return None
        return f"HTTP {resp.status}"
