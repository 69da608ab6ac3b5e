"""The payout worker's routing: the site's rules (`corridor.core.routing.Route`) and one
circuit breaker per receive partner, kept by each payout pump and written to the store
(`partner_breakers`) whenever one changes state, for `corridor transfers show`,
`corridor routing status` and the metrics.

A partner whose connects fail or time out `breaker_failures` times in a row leaves
rotation: payouts claimed ACCEPTED go to the next partner of their route, and a
submission that got no connection at all goes there too. Every `breaker_probe_s` the
worker probes it (a status query of a payout that does not exist; any answer below 500
will do); the first probe that succeeds puts it back. A payout that may have been
credited (UNKNOWN, or a submission that timed out) never moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from corridor.core.routing import CLOSED, Breaker
from corridor.settings import Settings
from corridor.site.model import Site
from corridor.store.rows import TransferRow
from corridor.txn.commands.routing import RecordBreaker
from corridor.txn.connectors import Connectors
from corridor.txn.engine import Engine

log = logging.getLogger("corridor.txn.routing")


class Router:
    def __init__(self, engine: Engine, connectors: Connectors, settings: Settings) -> None:
        self.engine = engine
        self.site: Site = engine.site
        self.connectors = connectors
        self.failures = settings.breaker_failures
        self.cooldown = settings.breaker_probe_s
        # One per partner a route names, made here: `pick` runs on the writer thread (inside
        # the claim's batch) and only reads them.
        self.breakers: dict[str, Breaker] = {
            p: Breaker(p, self.failures, self.cooldown)
            for route in self.site.hub.routes for p in route.partners}
        self._writes: set[asyncio.Future[None]] = set()

    def breaker(self, partner_id: str) -> Breaker:
        b = self.breakers.get(partner_id)
        if b is None:
            b = self.breakers[partner_id] = Breaker(partner_id, self.failures, self.cooldown)
        return b

    def available(self, partner_id: str) -> bool:
        p = self.site.partner(partner_id)
        b = self.breakers.get(partner_id)
        return p is not None and not p.disabled and (b is None or b.available)

    def pick(self, row: TransferRow) -> tuple[str, str] | None:
        """The partner an ACCEPTED transfer's payout goes to, and why, by its route; None
        when it has no route or no partner of it is available (it stays where it is)."""
        route = self.site.route(row.corridor, row.payout_method)
        if route is None:
            return None
        best = route.choose(row.id, self.available)
        if best is None:
            return None
        ranked = route.ranking(row.id)
        skipped = [p for p in ranked[:ranked.index(best)]]
        why = (f"{', '.join(skipped)} out of rotation" if skipped
               else f"{route.rule} rule of {route.corridor} {route.method}")
        return best, why

    def alternative(self, row: TransferRow) -> str | None:
        """Another available partner of the transfer's route than its current one."""
        route = self.site.route(row.corridor, row.payout_method)
        if route is None:
            return None
        return route.choose(row.id, self.available, exclude=(row.receive_partner_id,))

    # -- what the connector saw ----------------------------------------------------------

    def reached(self, partner_id: str) -> None:
        b = self.breaker(partner_id)
        if b.success(self.engine.clock()):
            log.info("receive partner %s is back in rotation", partner_id)
            self._record(b)

    def unreachable(self, partner_id: str, reason: str) -> None:
        b = self.breaker(partner_id)
        was = b.state
        if b.failure(self.engine.clock(), reason):
            if was == CLOSED:
                log.warning("receive partner %s out of rotation: %s", partner_id, reason)
            self._record(b)

    def _record(self, b: Breaker) -> None:
        command = RecordBreaker(b.partner, b.state, b.failed, b.reason,
                                b.since or self.engine.clock(), b.probe_at)
        task = asyncio.ensure_future(self.engine.writer.submit(command))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # -- probes ----------------------------------------------------------------------------

    async def probe_due(self) -> None:
        """Probe each partner out of rotation whose pause is over."""
        now = self.engine.clock()
        for b in list(self.breakers.values()):
            if not b.probe_due(now):
                continue
            connector = self.connectors.for_partner(b.partner)
            if connector is None:
                continue
            b.probing(now)
            self._record(b)
            ok = await connector.probe()
            if ok:
                self.reached(b.partner)
            else:
                self.unreachable(b.partner, "probe failed")

    async def run(self, stop: asyncio.Event, every: Callable[[], float] | None = None) -> None:
        """Probe until `stop` is set."""
        pause = every or (lambda: min(1.0, self.cooldown / 4))
        # A new worker starts with every partner in rotation: say so in the store, over
        # what a worker that died (a restart, a crash) last wrote there.
        for b in self.breakers.values():
            self._record(b)
        while not stop.is_set():
            try:
                await self.probe_due()
            except Exception:  # a failing probe round must not stop the next
                log.exception("probe round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), pause())
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    def state(self) -> dict[str, str]:
        return {p: b.state for p, b in self.breakers.items() if b.state != CLOSED}
