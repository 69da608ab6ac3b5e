"""Information requests left unanswered past their deadline: each second a cheap indexed
read asks whether any is due, and only then a command rejects those transfers
(`corridor.txn.commands.information.ExpireInfoRequests`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from corridor.core.times import rfc3339
from corridor.store import Connection
from corridor.txn.commands.information import ExpireInfoRequests
from corridor.txn.engine import Engine

log = logging.getLogger("corridor.txn.deadlines")


def _any_due(conn: Connection, at: str) -> bool:
    return bool(conn.query("SELECT 1 FROM information_requests WHERE state = 'open' AND "
                           "deadline <= ? LIMIT 1", (at,)))


async def expire_information_requests(engine: Engine, stop: asyncio.Event,
                                      every: float = 1.0) -> None:
    """Until `stop` is set: reject held transfers whose information request expired."""
    while not stop.is_set():
        try:
            if await engine.read(_any_due, rfc3339(engine.clock())):
                n = await engine.writer.submit(ExpireInfoRequests(engine.clock()))
                if n:
                    log.info("rejected %d held transfer(s): information not provided", n)
        except Exception:  # a failing round must not stop the next
            log.exception("information request deadlines failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
