"""TXN's gauges of what needs a person, read from the store when Prometheus scrapes.

Nothing here runs per request: the `/metrics` handler awaits `refresh` (a handful of
indexed or small reads on the engine's reader pool, off the event loop) and the collector
then reports that snapshot. The alert rules in `corridor/monitoring/alerts.yml` use them:

- `corridor_txn_unknown_payouts{partner}` and `corridor_txn_unknown_payout_oldest_seconds`:
  transfers in UNKNOWN by receive partner, and how long the oldest has been so;
- `corridor_txn_sender_callbacks_parked{partner}`: sender callbacks that stopped retrying;
- `corridor_txn_reconciliation_open{kind}`: contradictions flagged and not yet resolved;
- `corridor_txn_float_available` and `corridor_txn_float_floor{partner, currency}`: a
  send partner's float (posted + pending) and its floor, in the currency's units;
- `corridor_txn_event_seq`: the newest event of the feed RPT follows.

The writer's load needs no gauge: `corridor_txn_group_commit_seconds_sum` grows by the time the
writer spends committing, so its rate is the share of the time the writer is busy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from corridor.core.money import exponent
from corridor.core.times import parse_time
from corridor.site.model import Site
from corridor.store import Connection
from corridor.store import reads as q
from corridor.txn.engine import Engine

SENDER_CALLBACK = "sender_callback"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the store said at the last scrape."""

    unknown: list[tuple[str, int, str]] = field(default_factory=list)  # partner, n, oldest
    parked: list[tuple[str, int]] = field(default_factory=list)  # partner, n
    flags: list[tuple[str, int]] = field(default_factory=list)  # kind, n
    # partner, currency, available and floor in minor units
    floats: list[tuple[str, str, int, int]] = field(default_factory=list)
    event_seq: int = 0


def read(conn: Connection, site: Site) -> Snapshot:
    floats = []
    for account, currency, posted, pending in q.balances(conn):
        kind, _, rest = account.partition(":")
        if kind != "float":
            continue
        partner_id = rest.rpartition(":")[0]
        partner = site.partner(partner_id)
        floor = (partner.float_floor if partner is not None else None) or 0
        floats.append((partner_id, currency, int(posted) + int(pending), floor))
    return Snapshot(
        unknown=[(p, int(n), at) for p, n, at in q.unknown_payouts(conn)],
        parked=[(p, int(n)) for p, n in q.parked_messages(conn, SENDER_CALLBACK)],
        flags=[(k, int(n)) for k, n in q.open_flags(conn)],
        floats=floats,
        event_seq=q.last_event_seq(conn),
    )


class StoreGauges(Collector):
    """The gauges above, from the snapshot `refresh` last read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.snapshot = Snapshot()

    async def refresh(self) -> None:
        self.snapshot = await self.engine.read(read, self.engine.site)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s, now = self.snapshot, self.engine.clock()
        unknown = GaugeMetricFamily(
            "corridor_txn_unknown_payouts", "Transfers in UNKNOWN, by receive partner",
            labels=["partner"])
        oldest = GaugeMetricFamily(
            "corridor_txn_unknown_payout_oldest_seconds",
            "Seconds since the oldest UNKNOWN transfer last changed state, by receive partner",
            labels=["partner"])
        for partner, n, at in s.unknown:
            unknown.add_metric([partner], n)
            oldest.add_metric([partner], max(0.0, (now - parse_time(at)).total_seconds()))
        parked = GaugeMetricFamily(
            "corridor_txn_sender_callbacks_parked",
            "Sender callbacks parked after failing for their whole retry period",
            labels=["partner"])
        for partner, n in s.parked:
            parked.add_metric([partner], n)
        flags = GaugeMetricFamily(
            "corridor_txn_reconciliation_open",
            "Contradictions a receive partner reported that nobody has resolved",
            labels=["kind"])
        for kind, n in s.flags:
            flags.add_metric([kind], n)
        available = GaugeMetricFamily(
            "corridor_txn_float_available",
            "A send partner's float, posted plus pending, in the currency's units",
            labels=["partner", "currency"])
        floor = GaugeMetricFamily(
            "corridor_txn_float_floor", "The floor of a send partner's float (site file)",
            labels=["partner", "currency"])
        for partner, currency, avail, low in s.floats:
            unit = 10 ** exponent(currency)
            available.add_metric([partner, currency], avail / unit)
            floor.add_metric([partner, currency], low / unit)
        seq = GaugeMetricFamily(
            "corridor_txn_event_seq", "Seq of the newest event of the feed RPT follows")
        seq.add_metric([], s.event_seq)
        yield from (unknown, oldest, parked, flags, available, floor, seq)


GAUGES = web.AppKey("store_gauges", StoreGauges)


def install(app: web.Application, engine: Engine, registry: CollectorRegistry) -> None:
    """Register the store gauges on TXN's registry; `refresh` before each scrape."""
    app[GAUGES] = StoreGauges(engine)
    registry.register(app[GAUGES])


async def refresh(app: web.Application) -> None:
    await app[GAUGES].refresh()
