"""Coalescing concurrent partner calls into `POST /internal/v1/batch` (docs/internal-api.md).

Under load most of a relayed call's cost on both sides is the HTTP exchange itself: a TLS
record each way, a request parsed and a response built by aiohttp in TXN, a response
parsed here. A `Coalescer` queues the calls that arrive while earlier batches are still with
TXN and sends them together as one request; TXN applies each call on its own and answers
them in order, so every caller gets exactly the status and body its call alone would have
got. With no load a call goes out on the next turn of the event loop, alone, so coalescing
adds no waiting; under load a batch forms from whatever arrived while the previous ones
were away, which is what lets TXN hand its group-commit writer many commands at once.

With several TXN processes (several TXN hosts in hub.yaml), batches go to them in turn.
When one gets no answer (TXN down, a timeout, a broken connection, an answer that is not a
batch reply), that TXN is left aside for `REST_S` and the batch's calls go to another TXN
only where sending them twice cannot do anything twice: all of them if the batch never
left (no connection could be made), else only reads and calls that carry an
Idempotency-Key (TXNs share one store, so a second TXN answers a key the first one
committed with the original response). The other calls, and every call when no other TXN
is left, fail with the caller's `Unavailable`: the partner retries with the same
Idempotency-Key and TXN's idempotency makes that safe.
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
from corridor.httppool import ConnectFailed, Pool, TransportError

log = logging.getLogger("corridor.eig.coalescer")

IN_FLIGHT = 4  # batches with TXN at once: TXN prepares one while its writer commits another
REST_S = 1.0  # how long a TXN that gave no answer is left aside before it is tried again


class _Waiting:
    """A call waiting for its answer, and the TXNs (indexes of the pools) it went to."""

    __slots__ = ("call", "future", "tried")

    def __init__(self, call: Relayed, future: asyncio.Future[Answered]) -> None:
        self.call = call
        self.future = future
        self.tried: set[int] = set()


def resendable(call: Relayed) -> bool:
    """Whether a call that may have reached a TXN can go to another one: a read, or a POST
    whose Idempotency-Key makes a second arrival answer the first."""
    return call.method == "GET" or call.key is not None


class Coalescer:
    """Sends calls to TXN over `pools` (one per TXN process), many per request (a pool's
    timeout bounds a batch's round trip). `unavailable` makes the error each caller gets
    when its call has no answer."""

    def __init__(self, pools: Pool | list[Pool], unavailable: Callable[[], CorridorError], *,
                 in_flight: int = IN_FLIGHT,
                 max_items: int = MAX_SENT_ITEMS, max_bytes: int = MAX_SENT_BYTES) -> None:
        self.pools = pools if isinstance(pools, list) else [pools]
        self.unavailable = unavailable
        self.in_flight = in_flight * len(self.pools)
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._queue: list[_Waiting] = []
        self._flights = 0
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # sent, for the metrics and the tests
        self.calls = 0
        self.failovers = 0  # calls sent again to another TXN
        self._resting: list[float] = [0.0] * len(self.pools)  # loop time until usable again
        self._next = 0

    def rest(self, index: int) -> None:
        """Leave TXN `index` aside for REST_S: it gave no answer."""
        self._resting[index] = asyncio.get_running_loop().time() + REST_S

    def choose(self, avoid: set[int]) -> int | None:
        """The next TXN in turn that is not resting and not in `avoid`; a resting one if
        none other is left; None if every TXN is in `avoid`."""
        now = asyncio.get_running_loop().time()
        n = len(self.pools)
        order = [(self._next + k) % n for k in range(n)]
        candidates = [i for i in order if i not in avoid]
        if not candidates:
            return None
        ready = [i for i in candidates if self._resting[i] <= now]
        chosen = ready[0] if ready else min(candidates, key=lambda i: self._resting[i])
        self._next = (chosen + 1) % n
        return chosen

    async def call(self, call: Relayed) -> Answered:
        """Queue `call` for the next batch and wait for its own answer."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Answered] = loop.create_future()
        self._queue.append(_Waiting(call, future))
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
            waiting = queue[i]
            if taken and size + len(waiting.call.body) > self.max_bytes:
                break
            i += 1
            if not waiting.future.done():
                taken.append(waiting)
                size += len(waiting.call.body) + len(waiting.call.path) + 64
        del queue[:i]
        return taken

    async def _exchange(self, pool: Pool, batch: list[_Waiting]
                        ) -> tuple[list[Answered] | None, bool]:
        """TXN's answers to the batch, one per call, or None (and why, in the log); and
        whether the batch may have reached TXN."""
        body = encode_batch([w.call for w in batch])
        try:
            # Sent twice only if it never reached TXN: its calls are reads or keyed POSTs.
            got = await pool.request("POST", BATCH_PATH, {"Content-Type": MSGPACK}, body,
                                     replayable=True)
        except ConnectFailed as exc:
            log.warning("a batch of %d calls to TXN was not sent: %s", len(batch), exc)
            return None, False
        except TransportError as exc:
            log.warning("a batch of %d calls to TXN failed: %s", len(batch), exc)
            return None, True
        if got.status != 200:
            why = f"TXN answered the batch with {got.status}: {got.body[:200]!r}"
        else:
            try:
                answers = decode_answers(got.body)
            except msgspec.DecodeError as exc:
                why = f"TXN's batch reply does not decode: {exc}"
            else:
                if len(answers) == len(batch):
                    return answers, True
                why = f"{len(answers)} answers to {len(batch)} calls"
        log.warning("a batch of %d calls to TXN failed: %s", len(batch), why)
        return None, True

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            while batch:
                chosen = self.choose(set.intersection(*(w.tried for w in batch)))
                if chosen is None:
                    return
                for w in batch:
                    w.tried.add(chosen)
                answers, reached = await self._exchange(self.pools[chosen], batch)
                if answers is not None:
                    self.batches += 1
                    self.calls += len(batch)
                    for w, answer in zip(batch, answers, strict=True):
                        if not w.future.done():
                            w.future.set_result(answer)
                    return
                self.rest(chosen)
                if len(self.pools) == 1:
                    return
                # To another TXN: everything if nothing left, else only what is safe twice.
                again = [w for w in batch if not w.future.done()
                         and (not reached or resendable(w.call))
                         and len(w.tried) < len(self.pools)]
                for w in batch:
                    if w not in again and not w.future.done():
                        w.future.set_exception(self.unavailable())
                self.failovers += len(again)
                batch = again
        finally:
            for w in batch:  # no answer, whatever the reason: the caller may retry
                if not w.future.done():
                    w.future.set_exception(self.unavailable())
            self._flights -= 1
            if self._queue and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
