"""TXN's gauges of the FX rates quotes are priced on, read from the store when Prometheus
scrapes (beside `corridor.txn.gauges`, refreshed with it):

- `corridor_txn_fx_rate_age_seconds{pair}`: seconds since the source gave the rate each
  pair is priced on (pushed rates; hub.yaml's static rates have no age);
- `corridor_txn_fx_rate_stale{pair}`: 1 when that rate is older than
  `fx.max_age_seconds`, so that quotes on it are refused `rates_stale` (alert FxRateStale);
- `corridor_txn_quotes_refused_stale_total`: those refusals since this TXN started.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from corridor.site.model import Site
from corridor.store import Connection
from corridor.txn.engine import Engine

# pair, seconds since its source gave it (None: hub.yaml's), stale
Ages = list[tuple[str, float | None, bool]]


def read(conn: Connection, site: Site) -> Ages:
    from corridor.txn.fx import book

    rates, now, out = book(conn, site.hub.tariff), datetime.now(UTC), []
    pairs = set(rates.live) | {p for p in rates.site if (p[1], p[0]) not in rates.live}
    for pair in sorted(pairs):
        found = rates.find(*pair)
        if found is not None:
            rate = found[0]
            age = None if rate.at is None else (now - rate.at).total_seconds()
            out.append((rate.pair, age, rates.stale(rate, now)))
    return out


class FxGauges(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.ages: Ages = []

    async def refresh(self) -> None:
        self.ages = await self.engine.read(read, self.engine.site)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        age = GaugeMetricFamily(
            "corridor_txn_fx_rate_age_seconds",
            "Seconds since the source gave the rate each pair is priced on (pushed rates)",
            labels=["pair"])
        stale = GaugeMetricFamily(
            "corridor_txn_fx_rate_stale",
            "1 when the pair's rate is older than fx.max_age_seconds: its quotes are refused",
            labels=["pair"])
        for pair, seconds, is_stale in self.ages:
            if seconds is not None:
                age.add_metric([pair], max(0.0, seconds))
            stale.add_metric([pair], 1 if is_stale else 0)
        refused = CounterMetricFamily(
            "corridor_txn_quotes_refused_stale",
            "Quotes refused rates_stale since TXN started (this process)")
        refused.add_metric([], self.engine.refused_stale)
        yield from (age, stale, refused)
