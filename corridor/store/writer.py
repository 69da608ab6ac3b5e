"""Group commit: one writer thread owns the write connection, takes commands from a
queue and applies as many as are waiting in one transaction, then answers every waiter.

A caller's answer is released only after its transaction has committed (and, on SQLite
with `synchronous=FULL`, the WAL is on disk), so an acknowledged command is durable. A
command that raises a `CorridorError` fails alone; the others in its group still commit.

On PostgreSQL the connection can break under a group (the primary died, or was demoted in
a failover): if that happened during COMMIT, nobody can say from here whether the group is
in the store. So each group writes a marker row (`group_commits`, a fresh id) in its own
transaction; the writer connects again (the multi-host DSN finds the writable node),
reads whether the marker is there, and answers the group as committed if it is, or runs it
again (new marker) if it is not. A group is therefore never applied twice, and never
acknowledged unless it is in the store that is writable now. The writer never cancels a
COMMIT that waits for the synchronous standby (a cancelled wait leaves the commit visible
on that node alone): it waits for the connection to break.
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
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from corridor import processes
from corridor.core.errors import CorridorError, Unavailable
from corridor.core.ids import new_id
from corridor.core.pricing import Quote
from corridor.core.times import rfc3339
from corridor.store.adapter import Connection
from corridor.store.changes import Changes
from corridor.store.unit_of_work import Needs, UnitOfWork

log = logging.getLogger("corridor.store")
MAX_GROUP = 2000
QUOTE_CACHE = 200_000
CHECKPOINT_EVERY = 0.05  # seconds between WAL checkpoints at most, while commits come
RECONNECT_FOR_S = 60.0  # how long the writer tries to reach a writable store for a group
MARKERS_KEPT_S = 3600.0  # group markers older than this are deleted (a group at a time)
PRUNE_EVERY = 1000  # groups between two such deletions


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


class ConnectionLost(Exception):
    """The store's connection broke under a group. `marker` is the group's marker (None
    when no single transaction was in flight); `outcomes` and `unit` are what the group
    computed, valid if the marker turns out to be in the store."""

    def __init__(self, marker: str | None, outcomes: list[Outcome],
                 unit: UnitOfWork | None) -> None:
        super().__init__("the store's connection was lost")
        self.marker = marker
        self.outcomes = outcomes
        self.unit = unit


def _unavailable() -> Outcome:
    out = Outcome()
    out.error = Unavailable("the store is unavailable; retry with the same Idempotency-Key",
                            code="store_unavailable")
    return out


def commit_group(conn: Connection, commands: Sequence[Command[object]],
                 quote_cache: dict[str, Quote] | None = None,
                 queued: set[str] | None = None,
                 traces: Sequence[str | None] | None = None, *,
                 marker: str | None = None) -> list[Outcome]:
    """Run `commands` in one transaction. If the transaction itself fails (a database
    error, not a refused command), it is retried one command per transaction so that one
    bad command cannot sink the others. `queued` gets the kinds of the outbox messages
    that were committed. `traces` are the commands' trace contexts (`Writer.trace_of`),
    stored with the outbox messages each writes. With a `marker` (the writer's), the
    transaction also records it, and a lost connection raises `ConnectionLost` instead of
    answering."""
    outcomes = [Outcome() for _ in commands]
    unit: UnitOfWork | None = None
    try:
        unit = UnitOfWork(conn, quote_cache)
        _one_transaction(conn, unit, commands, outcomes, marker, traces)
    except Exception as exc:
        if marker is not None and conn.lost(exc):
            raise ConnectionLost(marker, outcomes, unit) from exc
        if len(commands) == 1:
            log.exception("store transaction failed")
            out = Outcome()
            out.error = Unavailable(f"the store refused the change: {type(exc).__name__}",
                                    code="store_error")
            return [out]
        log.warning("group of %d failed (%s); retrying one by one", len(commands), exc)
        done: list[Outcome] = []
        for i, cmd in enumerate(commands):
            try:
                done.append(commit_group(conn, [cmd], quote_cache, queued,
                                         None if traces is None else [traces[i]],
                                         marker=None if marker is None else new_id())[0])
            except ConnectionLost:
                # This one's outcome is unknown and the rest did not run: each is told
                # to retry (partner calls carry idempotency keys, the pumps claim again).
                done.extend(_unavailable() for _ in commands[i:])
                raise ConnectionLost(None, done, None) from exc
        return done
    _after(unit, quote_cache, queued)
    return outcomes


def _one_transaction(conn: Connection, unit: UnitOfWork, commands: Sequence[Command[object]],
                     outcomes: list[Outcome], marker: str | None,
                     traces: Sequence[str | None] | None) -> None:
    with conn.write():
        needs = Needs()
        for cmd in commands:
            cmd.needs(needs)
        unit.load(needs)
        for i, (cmd, out) in enumerate(zip(commands, outcomes, strict=True)):
            ch = Changes()
            if traces is not None:
                ch.traceparent = traces[i]
            try:
                out.value = cmd.apply(unit, ch)
            except CorridorError as exc:
                out.error = exc
                continue
            unit.merge(ch)
        unit.flush()
        if marker is not None:
            conn.execute("INSERT INTO group_commits (id, at) VALUES (?, ?)",
                         (marker, rfc3339(datetime.now(UTC))))


def _after(unit: UnitOfWork, quote_cache: dict[str, Quote] | None,
           queued: set[str] | None) -> None:
    """What a committed group leaves behind in memory: the outbox kinds it queued (to
    wake their pumps) and its new quotes (the writer's cache)."""
    if queued is not None:
        queued.update(message.kind for message in unit.out.outbox)
    if quote_cache is not None:
        for quote in unit.new_quotes:
            quote_cache[quote.id] = quote
        if len(quote_cache) > QUOTE_CACHE:
            quote_cache.clear()


class _Item:
    __slots__ = ("command", "future", "loop", "trace")

    def __init__(self, command: Command[object], loop: asyncio.AbstractEventLoop | None,
                 future: asyncio.Future[Any] | concurrent.futures.Future[Any],
                 trace: str | None = None) -> None:
        self.command = command
        self.loop = loop
        self.future = future
        self.trace = trace


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
        # Read where a command is submitted: the trace context of the hop submitting it
        # (TXN sets `corridor.tracing.passed_on`), kept with its outbox messages.
        self.trace_of: Callable[[], str | None] | None = None
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
        trace_of = self.trace_of
        pending.append(_Item(command, loop, future, trace_of() if trace_of else None))
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
                conn, outcomes = self._commit(conn, [i.command for i in items], queued,
                                              [i.trace for i in items])
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


    def _commit(self, conn: Connection, commands: list[Command[object]], queued: set[str],
                traces: list[str | None]) -> tuple[Connection, list[Outcome]]:
        """Run one group to a known outcome; the connection to go on with. Only a store
        that can lose its connection under a commit (PostgreSQL) gets markers."""
        marked = conn.kind == "postgresql"
        deadline = time.monotonic() + RECONNECT_FOR_S
        while True:
            marker = new_id() if marked else None
            try:
                outcomes = commit_group(conn, commands, self.quote_cache, queued, traces,
                                        marker=marker)
            except ConnectionLost as lost:
                log.warning("store connection lost under a group of %d; reconnecting",
                            len(commands))
                conn, found = self._find_marker(conn, lost.marker, deadline)
                if found is None:  # no writable store in time: nothing is known yet
                    return conn, [_unavailable() for _ in commands]
                if lost.marker is None:
                    return conn, lost.outcomes
                if found:
                    log.info("the group had committed before the connection was lost")
                    assert lost.unit is not None
                    _after(lost.unit, self.quote_cache, queued)
                    return conn, lost.outcomes
                log.info("the group had not committed; applying it again")
                continue
            if marked:
                self._prune(conn)
            return conn, outcomes

    def _find_marker(self, conn: Connection, marker: str | None, deadline: float
                   ) -> tuple[Connection, bool | None]:
        """A new connection, and whether the group with `marker` is in the store: asked
        until a writable store answers (None if none did by `deadline`; False when there
        is no marker to ask about)."""
        while True:
            conn = self._reconnect(conn, deadline)
            if conn.broken:
                return conn, None
            if marker is None:
                return conn, False
            try:
                found = conn.query("SELECT 1 FROM group_commits WHERE id = ?", (marker,))
            except Exception as exc:
                if not conn.lost(exc):
                    raise
                continue  # lost again before the answer: ask the next writable node
            return conn, bool(found)

    def _reconnect(self, conn: Connection, deadline: float) -> Connection:
        """A new connection to the writable store, tried until `deadline`; the broken
        one back if none came."""
        with contextlib.suppress(Exception):
            conn.close()
        pause = 0.05
        while True:
            try:
                return self._connect()
            except Exception as exc:  # no writable node yet (failover in progress)
                if time.monotonic() > deadline:
                    log.error("no writable store: %s", exc)
                    return conn
                time.sleep(pause)
                pause = min(pause * 2, 1.0)

    def _prune(self, conn: Connection) -> None:
        """Every PRUNE_EVERY groups, forget markers older than MARKERS_KEPT_S: a marker is
        read only right after its own group."""
        if self.groups % PRUNE_EVERY:
            return
        cutoff = rfc3339(datetime.now(UTC) - timedelta(seconds=MARKERS_KEPT_S))
        try:
            conn.execute("DELETE FROM group_commits WHERE at < ?", (cutoff,))
        except Exception as exc:  # the next prune tries again
            log.warning("could not prune group markers: %s", exc)


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
