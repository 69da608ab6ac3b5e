"""RPT's Prometheus metrics (`GET /metrics` on RPT's listener): how far it follows TXN.

- `corridor_rpt_feed_lag_seconds`: seconds since RPT last held every event TXN had; it
  grows while TXN is unreachable, refuses RPT, or writes faster than RPT counts;
- `corridor_rpt_feed_cursor`: seq of the last event counted (TXN's newest is
  `corridor_txn_event_seq`, so the difference is the lag in events);
- `corridor_rpt_feed_events_total`: events counted so far, kept in RPT's store;
- `corridor_rpt_feed_state{state}`: 1 for the follower's state (following, caught up,
  unreachable, refused, starting).

(`corridor/rpt/metrics.py` is another thing: the compliance figures of the reports.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from corridor.rpt.feed import FeedState


class FeedCollector(Collector):
    """The feed's figures; `position` is set from the store before each scrape."""

    def __init__(self, status: FeedState | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.status = status
        self.clock = clock
        self.position = (0, 0)  # (cursor, events counted)

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        after, events = self.position
        cursor = GaugeMetricFamily("corridor_rpt_feed_cursor",
                                   "Seq of the last TXN event RPT counted")
        cursor.add_metric([], after)
        counted = CounterMetricFamily("corridor_rpt_feed_events",
                                      "TXN events RPT has counted into its store")
        counted.add_metric([], events)
        lag = GaugeMetricFamily("corridor_rpt_feed_lag_seconds",
                                "Seconds since RPT last held every event TXN had")
        state = GaugeMetricFamily("corridor_rpt_feed_state",
                                  "1 for the state of RPT's feed follower", labels=["state"])
        if self.status is not None:
            lag.add_metric([], self.status.lag(self.clock()))
            state.add_metric([self.status.state], 1)
        yield from (cursor, counted, lag, state)


def registry_for(collector: FeedCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry
