"""`corridor sim send-partner serve-callbacks`: the send partner's (the demo's PayFast)
HTTPS endpoint at its `callback_url`, where the hub POSTs sender callbacks.

It verifies each callback's Corridor-Signature with the partner's secret and refuses a bad
or stale one (401), records every accepted callback (in memory, and in a JSONL file when
asked), wakes whoever waits for a transfer's final status, and can be told to be down for
a while, either answering 503 or with its listener closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import web

from corridor.api.schemas import SenderCallback
from corridor.core.errors import InvalidInput, Refused, Unauthenticated
from corridor.iso20022.sender import read_status
from corridor.sim.identity import PartnerIdentity, host_port
from corridor.sim.web import Listener, check_signature, echo_trace, reply
from corridor.site.model import Site
from corridor.web import decode, error_middleware

# A sender callback on these states tells the partner the transfer's fate.
FINAL = frozenset({"COMPLETED", "FAILED", "REJECTED", "CANCELLED"})
# A later callback may still follow COMPLETED: a return, or a refused recall.


@dataclass(slots=True)
class Received:
    event_id: str
    transfer_id: str
    status: str
    reference: str
    received_at: float  # unix seconds
    duplicate: bool  # the same event_id arrived before
    reason: str | None = None
    recall: str | None = None  # the recall's status, when the callback answers one
    type: str | None = None  # TRANSFER_STATUS or INFO_REQUESTED
    delivery_id: str | None = None  # the Corridor-Delivery-Id header
    event_header: str | None = None  # the Corridor-Event-Id header
    ask: str | None = None  # an information request's question
    traceparent: str | None = None  # the hub's trace context of the callback

    def as_dict(self) -> dict[str, object]:
        return {"event_id": self.event_id, "transfer_id": self.transfer_id,
                "status": self.status, "reference": self.reference,
                "received_at": self.received_at, "duplicate": self.duplicate,
                "reason": self.reason, "recall": self.recall,
                "type": self.type, "delivery_id": self.delivery_id,
                "event_header": self.event_header, "ask": self.ask,
                "traceparent": self.traceparent}


class CallbackInbox:
    """The send partner's callback server. `await start()`, `await stop()`; in-process
    callers `await wait_final(transfer_id)` for a transfer's final status."""

    def __init__(
        self,
        site: Site,
        partner_id: str = "payfast",
        *,
        listen: tuple[str, int] | None = None,
        journal: Path | None = None,
    ) -> None:
        ident = PartnerIdentity.of(site, partner_id, "send")
        self.partner = ident.partner
        self.path = urlsplit(self.partner.callback_url or "").path or "/callbacks"
        ident.ensure_server_certificate()
        self._secret = ident.secret
        self.received: list[Received] = []
        self.refused = 0
        self._events: set[str] = set()
        self._final: dict[str, Received] = {}
        self._waiters: dict[str, asyncio.Future[Received]] = {}
        self._journal_path = journal
        self._journal: Any = None
        self._unavailable_until = 0.0
        self._retry_after: str | None = None  # sent with each 503 while unavailable
        self.turned_away: list[dict[str, object]] = []  # callbacks answered 503
        self._tasks: set[asyncio.Task[None]] = set()
        host, port = listen or host_port(self.partner.callback_url)
        # The hub's client certificate is checked when presented; the signature is what
        # authenticates a callback.
        self.listener = Listener(self._app(), host, port, ident.server_tls("optional"))

    @property
    def url(self) -> str:
        return f"https://{self.listener.host}:{self.listener.port}{self.path}"

    async def start(self) -> CallbackInbox:
        if self._journal_path is not None:
            self._journal = self._journal_path.open("ab", buffering=0)
        await self.listener.start()
        return self

    async def stop(self) -> None:
        await self.listener.stop()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._journal is not None:
            self._journal.close()
            self._journal = None

    async def __aenter__(self) -> CallbackInbox:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def go_down(self, seconds: float, mode: str = "closed",
                      retry_after: int | None = None) -> None:
        """Be unreachable for `seconds`: `closed` shuts the listener, `503` answers 503
        (with `Retry-After: retry_after` when given)."""
        if mode == "503":
            self._unavailable_until = time.monotonic() + seconds
            self._retry_after = None if retry_after is None else str(retry_after)
            return
        await self.listener.stop()
        task = asyncio.create_task(self._come_back(seconds))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _come_back(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.listener.start()

    async def wait_final(self, transfer_id: str, timeout: float | None = None) -> Received:
        """The first callback with a final status for `transfer_id`, waiting if needed."""
        if transfer_id in self._final:
            return self._final[transfer_id]
        future = self._waiters.get(transfer_id)
        if future is None:
            future = self._waiters[transfer_id] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            if future.done():
                self._waiters.pop(transfer_id, None)

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware()], client_max_size=256 * 1024)
        app.router.add_post(self.path, self.callback)
        app.router.add_get("/sim/health", self.health)
        app.router.add_get("/sim/callbacks", self.callback_log)
        app.router.add_get("/sim/turned-away", self.turned_away_log)
        app.router.add_post("/sim/down", self.down)
        return app

    async def callback(self, request: web.Request) -> web.Response:
        if time.monotonic() < self._unavailable_until:
            self.turned_away.append({"event_header": request.headers.get("Corridor-Event-Id"),
                                     "delivery_id": request.headers.get("Corridor-Delivery-Id"),
                                     "at": time.time()})
            answer = reply({"status": "unavailable"}, 503)
            if self._retry_after is not None:
                answer.headers["Retry-After"] = self._retry_after
            return answer
        body = await request.read()
        try:
            check_signature(self._secret, request, body)
        except Unauthenticated:
            self.refused += 1
            raise
        if request.content_type == "application/xml":  # a bank partner's pacs.002
            event_id, tid, state, reference = read_status(body)
            reason = recall = kind = ask = None
        else:
            event = decode(body, SenderCallback)
            event_id, tid, state, reference = (event.event_id, event.transfer.id,
                                               event.transfer.status, event.transfer.reference)
            reason = event.transfer.reason
            recall = event.recall.status if event.recall is not None else None
            kind = event.type
            ask = event.information_request.ask if event.information_request else None
        duplicate = event_id in self._events
        self._events.add(event_id)
        got = Received(event_id, tid or "", state, reference or "", time.time(), duplicate,
                       reason, recall, kind,
                       request.headers.get("Corridor-Delivery-Id"),
                       request.headers.get("Corridor-Event-Id"), ask,
                       request.headers.get("traceparent"))
        self.received.append(got)
        if self._journal is not None:
            self._journal.write(msgspec.json.encode(got.as_dict()) + b"\n")
        if got.status in FINAL and got.transfer_id not in self._final:
            self._final[got.transfer_id] = got
            future = self._waiters.get(got.transfer_id)
            if future is not None and not future.done():
                future.set_result(got)
        return echo_trace(request, reply({"received": True, "duplicate": duplicate}))

    def _control(self, request: web.Request) -> None:
        """The control API is for the hub's side of a test or demo: a hub certificate."""
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is None or not ssl_object.getpeercert():
            raise Refused("the control API needs a hub client certificate", code="forbidden")

    async def health(self, request: web.Request) -> web.Response:
        return reply({"status": "ok", "partner": self.partner.id,
                      "received": len(self.received), "refused": self.refused})

    async def callback_log(self, request: web.Request) -> web.Response:
        self._control(request)
        wanted = request.query.get("transfer_id")
        return reply([r.as_dict() for r in self.received
                      if wanted is None or r.transfer_id == wanted])

    async def turned_away_log(self, request: web.Request) -> web.Response:
        self._control(request)
        return reply(self.turned_away)

    async def down(self, request: web.Request) -> web.Response:
        self._control(request)
        ask = decode(await request.read() or b"{}", dict[str, Any])
        seconds, mode = ask.get("seconds"), ask.get("mode", "closed")
        retry_after = ask.get("retry_after")
        if retry_after is not None and (not isinstance(retry_after, int)
                                        or not 0 <= retry_after <= 3600):
            raise InvalidInput("retry_after is whole seconds, 0 to 3600", code="invalid_fault")
        if not isinstance(seconds, int | float) or not 0 < seconds <= 3600:
            raise InvalidInput("give seconds, between 0 and 3600", code="invalid_fault")
        if mode not in ("closed", "503"):
            raise InvalidInput('mode must be "closed" or "503"', code="invalid_fault")

        if mode == "503":
            # In force before the answer: a callback sent after it is turned away, however
            # slowly this process runs.
            await self.go_down(float(seconds), mode, retry_after)
            return reply({"down_for_seconds": seconds, "mode": mode}, 202)

        async def later() -> None:
            await asyncio.sleep(0.05)  # let the answer leave before the listener closes
            await self.go_down(float(seconds), mode, retry_after)

        task = asyncio.create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return reply({"down_for_seconds": seconds, "mode": mode}, 202)
