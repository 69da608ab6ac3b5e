"""The receive partner's outgoing receiver callbacks: signed POSTs to EIG's
`/v1/callbacks/receiver`, each retried with backoff until EIG acknowledges it.

A queue feeds a fixed number of workers sharing one kept-alive, mutually authenticated
connection pool (`corridor.httppool`), so a burst of payouts turns into at most
`concurrency` requests in flight and no TLS handshake per callback. Each delivery has its
own Idempotency-Key, kept across its retries; a deliberate duplicate is a second delivery
with a key of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import msgspec

from corridor.api.schemas import ReceiverCallback
from corridor.core import signature
from corridor.core.ids import new_id
from corridor.httppool import Pool, TransportError

log = logging.getLogger(__name__)
PATH = "/v1/callbacks/receiver"
# A refusal that will not change on retry: bad request, credentials, signature, body.
PERMANENT = frozenset({400, 401, 403, 422})


@dataclass(slots=True)
class Delivery:
    """One callback as sent, and what became of it (read through `GET /sim/callbacks`)."""

    key: str  # Idempotency-Key
    callback: ReceiverCallback
    attempts: int = 0
    last_status: int | None = None  # HTTP status of the last attempt; None: no answer
    acknowledged: bool = False
    gave_up: bool = False
    done: asyncio.Event | None = None
    traceparent: str | None = None  # the payout's trace context, carried on to the hub

    def as_dict(self) -> dict[str, object]:
        return {
            "idempotency_key": self.key,
            "transfer_id": self.callback.transfer_id,
            "status": self.callback.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "acknowledged": self.acknowledged,
            "gave_up": self.gave_up,
        }


class CallbackSender:
    def __init__(
        self,
        eig_url: str,
        tls: ssl.SSLContext,
        api_key: str,
        secret: bytes,
        *,
        concurrency: int = 64,
        timeout: float = 10.0,
        max_attempts: int = 100,
        backoff: tuple[float, float] = (0.05, 5.0),
        source: str | None = None,
        path: str = PATH,
        content_type: str = "application/json",
        encode: Callable[[ReceiverCallback], bytes] | None = None,
        route: Callable[[ReceiverCallback], str] | None = None,
    ) -> None:
        self.url = eig_url.rstrip("/") + path
        self.content_type = content_type
        self._path = urlsplit(self.url).path
        # The ISO mode: each callback's own path (a pacs.002, or a pacs.004 for a return).
        self._prefix = urlsplit(eig_url.rstrip("/")).path
        self._route = route
        self.tls, self.api_key, self.secret = tls, api_key, secret
        self.concurrency, self.timeout, self.max_attempts = concurrency, timeout, max_attempts
        self.backoff = backoff
        self.source = source  # local address to connect from (EIG checks the source IP)
        # The most recent deliveries, for `GET /sim/callbacks`; bounded for long runs.
        self.deliveries: deque[Delivery] = deque(maxlen=100_000)
        self.pending = 0  # queued or being retried
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._pool: Pool | None = None
        self._auth = f"Bearer {api_key}"
        # How a callback goes on the wire: JSON, or (the ISO mode) a pacs.002.
        self._encode = encode or msgspec.json.Encoder().encode

    async def start(self) -> None:
        self._pool = Pool(self.url, self.tls, self.concurrency, timeout=self.timeout,
                          local_addr=self.source)
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.concurrency)]

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def send(self, callback: ReceiverCallback, traceparent: str | None = None) -> Delivery:
        """Queue a delivery (in the trace `traceparent`, the payout's); its `done` event is
        set once it is acknowledged or given up."""
        delivery = Delivery(new_id(), callback, done=asyncio.Event(), traceparent=traceparent)
        self.deliveries.append(delivery)
        self.pending += 1
        self._queue.put_nowait(delivery)
        return delivery

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._deliver(delivery)
            finally:
                self._queue.task_done()

    async def _deliver(self, delivery: Delivery) -> None:
        body = self._encode(delivery.callback)
        path = self._prefix + self._route(delivery.callback) if self._route else self._path
        delay = self.backoff[0]
        while True:
            delivery.attempts += 1
            status = await self._post(delivery.key, body, path, delivery.traceparent)
            delivery.last_status = status
            if status is not None and 200 <= status < 300:
                delivery.acknowledged = True
                break
            if status in PERMANENT or delivery.attempts >= self.max_attempts:
                log.warning("callback for %s given up after %d attempts (last status %s)",
                            delivery.callback.transfer_id, delivery.attempts, status)
                delivery.gave_up = True
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff[1])
        self.pending -= 1
        assert delivery.done is not None
        delivery.done.set()

    async def _post(self, key: str, body: bytes, path: str,
                    traceparent: str | None) -> int | None:
        """One attempt; the HTTP status, or None when the connection failed or timed out.
        Signed afresh each time so that a late retry is not refused as stale."""
        assert self._pool is not None
        headers = {
            "Content-Type": self.content_type,
            "Authorization": self._auth,
            "Idempotency-Key": key,
            signature.HEADER: signature.sign(self.secret, body, int(time.time())),
        }
        if traceparent is not None:
            headers["traceparent"] = traceparent
        try:
            resp = await self._pool.request("POST", path, headers, body)
            return resp.status
        except TransportError as exc:
            log.debug("callback POST to %s failed: %s", self.url, exc)
            return None
