"""Group commit: one writer thread owns the write connection, takes commands from a
queue and applies as many as are waiting in one transaction, then answers every waiter.

A caller's answer is released only after its transaction has committed (and, on SQLite
with `synchronous=FULL`, the WAL is on disk), so an acknowledged command is durable. A
command that raises a `CorridorError` fails alone; the others in its group still commit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from corridor import processes
from corridor.core.errors import CorridorError, Unavailable
from corridor.core.pricing import Quote
from corridor.store.adapter import Connection
from corridor.store.changes import Changes
from corridor.store.unit_of_work import Needs, UnitOfWork

log = logging.getLogger("corridor.store")
MAX_GROUP = 2000
QUOTE_CACHE = 200_000
CHECKPOINT_EVERY = 0.05  # seconds between WAL checkpoints at most, while commits come


R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Command(Protocol[R_co]):
    """A use case run inside a group: name what it reads, then read and write; its answer
    is what `apply` returns."""

    def needs(self, n: Needs) -> None: ...

    def apply(self, b: UnitOfWork, ch: Changes) -> R_co: ...


class Outcome:
    __slots__ = ("error", "value")

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None


def commit_group(conn: Connection, commands: Sequence[Command[object]],
                 quote_cache: dict[str, Quote] | None = None,
                 queued: set[str] | None = None) -> list[Outcome]:
    """Run `commands` in one transaction. If the transaction itself fails (a database
    error, not a refused command), it is retried one command per transaction so that one
    bad command cannot sink the others. `queued` gets the kinds of the outbox messages
    that were committed."""
    try:
        return _one_transaction(conn, commands, quote_cache, queued)
    except Exception as exc:
        if len(commands) == 1:
            log.exception("store transaction failed")
            out = Outcome()
            out.error = Unavailable(f"the store refused the change: {type(exc).__name__}",
                                    code="store_error")
            return [out]
        log.warning("group of %d failed (%s); retrying one by one", len(commands), exc)
        return [commit_group(conn, [cmd], quote_cache, queued)[0] for cmd in commands]


def _one_transaction(conn: Connection, commands: Sequence[Command[object]],
                     quote_cache: dict[str, Quote] | None,
                     queued: set[str] | None) -> list[Outcome]:
    outcomes = [Outcome() for _ in commands]
    with conn.write():
        unit = UnitOfWork(conn, quote_cache)
        needs = Needs()
        for cmd in commands:
            cmd.needs(needs)
        unit.load(needs)
        for cmd, out in zip(commands, outcomes, strict=True):
            ch = Changes()
            try:
                out.value = cmd.apply(unit, ch)
            except CorridorError as exc:
                out.error = exc
                continue
            unit.merge(ch)
        unit.flush()
    if queued is not None:
        queued.update(message.kind for message in unit.out.outbox)
    if quote_cache is not None:
        for quote in unit.new_quotes:
            quote_cache[quote.id] = quote
        if len(quote_cache) > QUOTE_CACHE:
            quote_cache.clear()
    return outcomes


class _Item:
    __slots__ = ("command", "future", "loop")

    def __init__(self, command: Command[object], loop: asyncio.AbstractEventLoop | None,
                 future: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> None:
        self.command = command
        self.loop = loop
        self.future = future


class Writer:
    """The group-commit writer thread."""

    def __init__(self, connect: Callable[[], Connection], max_group: int = MAX_GROUP) -> None:
        self._connect = connect
        self.max_group = max_group
        # Entries are lists of commands: those one turn of an event loop submitted, or one
        # from a plain thread; None stops the writer.
        self._queue: queue.SimpleQueue[list[_Item] | None] = queue.SimpleQueue()
        self._pending: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        self._thread: threading.Thread | None = None
        self.quote_cache: dict[str, Quote] = {}
        self.groups = 0
        self.commands = 0
        self.on_group: Callable[[int, float], None] | None = None  # (size, seconds)
        # Called on the writer thread after a commit that queued outbox messages, with
        # their kinds: the engine wakes those pumps (and only those).
        self.on_queued: Callable[[set[str]], None] | None = None
        self._checkpointer: threading.Thread | None = None
        self._committed = threading.Event()

    def start(self) -> None:
        processes.relax_gc()
        self._thread = threading.Thread(target=self._run, name="txn-writer", daemon=True)
        self._thread.start()

    def cpu_seconds(self) -> float:
        """CPU time the writer thread has used (0 when it is not running): with its wall
        time, how much of a group went to work and how much to waiting for the GIL or
        the disk."""
        ident = self._thread.ident if self._thread is not None else None
        if ident is None:
            return 0.0
        return time.clock_gettime(time.pthread_getcpuclockid(ident))

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._checkpointer is not None:
            self._committed.set()
            self._checkpointer.join()
            self._checkpointer = None

    def _checkpoint_elsewhere(self, conn: Connection) -> None:
        """On SQLite, a commit that crosses the WAL's autocheckpoint size copies the WAL
        into the database file and fsyncs it before the writer may go on: about a third
        of the commit time under load. A second thread does that instead, with its own
        connection, while the writer keeps committing (each commit still fsyncs the WAL,
        so durability is unchanged)."""
        if not conn.checkpoint_elsewhere():
            return
        self._checkpointer = threading.Thread(target=self._checkpoints, name="txn-checkpoint",
                                              daemon=True)
        self._checkpointer.start()

    def _checkpoints(self) -> None:
        conn = self._connect()
        try:
            while self._thread is not None:
                self._committed.wait()
                self._committed.clear()
                if self._thread is None:
                    return
                try:
                    conn.checkpoint()
                except Exception as exc:  # the next commit tries again
                    log.warning("WAL checkpoint failed: %s", exc)
                time.sleep(CHECKPOINT_EVERY)
        finally:
            conn.close()

    def submit(self, command: Command[R]) -> asyncio.Future[R]:
        """Queue a command from the event loop; await the returned future.

        Commands submitted in one turn of the event loop (the calls of one relayed group,
        say) reach the writer together, as one entry of its queue, at the end of that
        turn: handed over one at a time, the writer thread would wake at the first and
        could take the GIL and commit it alone while the loop was still submitting the
        rest."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._hand_over, loop)
        pending.append(_Item(command, loop, future))
        return future

    def _hand_over(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue.put(self._pending.pop(loop))

    def call(self, command: Command[R], timeout: float | None = 60) -> R:
        """Queue a command from a plain thread and wait for its answer."""
        future: concurrent.futures.Future[R] = concurrent.futures.Future()
        self._queue.put([_Item(command, None, future)])
        return future.result(timeout)

    def _run(self) -> None:
        conn = self._connect()
        self._checkpoint_elsewhere(conn)
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                items = first
                stop = False
                while len(items) < self.max_group:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    items.extend(item)
                started = time.perf_counter()
                queued: set[str] = set()
                outcomes = commit_group(conn, [i.command for i in items], self.quote_cache,
                                     queued)
                self._committed.set()
                self.groups += 1
                self.commands += len(items)
                if self.on_group is not None:
                    self.on_group(len(items), time.perf_counter() - started)
                _settle(items, outcomes)
                if queued and self.on_queued is not None:
                    self.on_queued(queued)
                if stop:
                    return
        finally:
            conn.close()


def _settle(items: list[_Item], outcomes: list[Outcome]) -> None:
    """Answer every waiter: one hop onto each event loop for the whole group."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Outcome]]] = {}
    for item, out in zip(items, outcomes, strict=True):
        if item.loop is None:
            fut = item.future
            if out.error is not None:
                fut.set_exception(out.error)
            else:
                fut.set_result(out.value)
        else:
            by_loop.setdefault(item.loop, []).append((item.future, out))
    for loop, pairs in by_loop.items():
        # A closed loop raises RuntimeError: nobody is waiting there any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[asyncio.Future[Any], Outcome]]) -> None:
    for fut, out in pairs:
        if fut.done():
            continue
        if out.error is not None:
            fut.set_exception(out.error)
        else:
            fut.set_result(out.value)
