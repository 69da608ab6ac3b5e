"""Coalescing concurrent partner calls into `POST /internal/v1/batch` (docs/internal-api.md).

Under load most of a relayed call's cost on both sides is the HTTP exchange itself: a TLS
record each way, a request parsed and a response built by aiohttp in TXN, a response
parsed here. A `Coalescer` queues the calls that arrive while earlier batches are still with
TXN and sends them together as one request; TXN applies each call on its own and answers
them in order, so every caller gets exactly the status and body its call alone would have
got. With no load a call goes out on the next turn of the event loop, alone, so coalescing
adds no waiting; under load a batch forms from whatever arrived while the previous ones
were away, which is what lets TXN hand its group-commit writer many commands at once.

If the batch gets no answer (TXN down, a timeout, a broken connection, an answer that is
not a batch reply) every call in it fails with the caller's `Unavailable`: the partner
retries with the same Idempotency-Key and TXN's idempotency makes that safe.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import msgspec

from corridor.api.internal import (
    BATCH_PATH,
    MAX_SENT_BYTES,
    MAX_SENT_ITEMS,
    MSGPACK,
    Answered,
    Relayed,
    decode_answers,
    encode_batch,
)
from corridor.core.errors import CorridorError
from corridor.httppool import Pool, TransportError

log = logging.getLogger("corridor.eig.coalescer")

IN_FLIGHT = 4  # batches with TXN at once: TXN prepares one while its writer commits another

_Waiting = tuple[Relayed, "asyncio.Future[Answered]"]


class Coalescer:
    """Sends calls to TXN over `pool`, many per request (the pool's timeout bounds a batch's
    round trip). `unavailable` makes the error each caller gets when a batch has no answer."""

    def __init__(self, pool: Pool, unavailable: Callable[[], CorridorError], *,
                 in_flight: int = IN_FLIGHT,
                 max_items: int = MAX_SENT_ITEMS, max_bytes: int = MAX_SENT_BYTES) -> None:
        self.pool = pool
        self.unavailable = unavailable
        self.in_flight = in_flight
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._queue: list[_Waiting] = []
        self._flights = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # sent, for the metrics and the tests
        self.calls = 0

    async def call(self, call: Relayed) -> Answered:
        """Queue `call` for the next batch and wait for its own answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answered] = loop.create_future()
        self._queue.append((call, future))
        if not self._scheduled and self._flights < self.in_flight:
            # Not at once: calls that arrive in this same turn of the loop join the batch.
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._scheduled = False
        while self._queue and self._flights < self.in_flight:
            batch = self._take()
            if batch:
                self._flights += 1
                task = asyncio.get_running_loop().create_task(self._send(batch))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Waiting]:
        """The oldest queued calls that fit one batch (at least one), skipping calls whose
        caller has gone."""
        taken: list[_Waiting] = []
        size = 0
        queue = self._queue
        i = 0
        while i < len(queue) and len(taken) < self.max_items:
            call, future = queue[i]
            if taken and size + len(call.body) > self.max_bytes:
                break
            i += 1
            if not future.done():
                taken.append((call, future))
                size += len(call.body) + len(call.path) + 64
        del queue[:i]
        return taken

    async def _exchange(self, batch: list[_Waiting]) -> list[Answered] | None:
        """TXN's answers to the batch, one per call, or None (and why, in the log)."""
        body = encode_batch([call for call, _ in batch])
        try:
            # Sent twice only if it never reached TXN: its calls are reads or keyed POSTs.
            got = await self.pool.request("POST", BATCH_PATH, {"Content-Type": MSGPACK}, body,
                                          replayable=True)
        except TransportError as exc:
            log.warning("a batch of %d calls to TXN failed: %s", len(batch), exc)
            return None
        if got.status != 200:
            why = f"TXN answered the batch with {got.status}: {got.body[:200]!r}"
        else:
            try:
                answers = decode_answers(got.body)
            except msgspec.DecodeError as exc:
                why = f"TXN's batch reply does not decode: {exc}"
            else:
                if len(answers) == len(batch):
                    return answers
                why = f"{len(answers)} answers to {len(batch)} calls"
        log.warning("a batch of %d calls to TXN failed: %s", len(batch), why)
        return None

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            answers = await self._exchange(batch)
            if answers is None:
                return
            self.batches += 1
            self.calls += len(batch)
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
        finally:
            for _, future in batch:  # no answer, whatever the reason: the caller may retry
                if not future.done():
                    future.set_exception(self.unavailable())
            self._flights -= 1
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
