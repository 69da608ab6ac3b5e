"""Prometheus view of Corridor's nftables table, read with one `nft -j list table` per
scrape (`corridor firewall metrics`):

- `corridor_firewall_loaded`: 1 while the table is loaded;
- `corridor_firewall_packets_total` / `corridor_firewall_bytes_total{rule}`: each counted
  rule by its comment ("eig payfast", "drop eig", ...);
- `corridor_firewall_dropped_packets_total` / `..._dropped_bytes_total{source}`: what the
  guarded ports dropped per source address, for the `TOP` busiest sources only, so that a
  scan from many addresses cannot flood Prometheus with series.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from corridor.net import nft
from corridor.net.errors import NetError
from corridor.net.firewall import TABLE

log = logging.getLogger("corridor.net.fwmetrics")
TOP = 50


class FirewallCollector(Collector):
    def __init__(self, netns: str | None = None, table: str = TABLE, top: int = TOP) -> None:
        self.netns, self.table, self.top = netns, table, top

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        try:
            live = nft.live_json(self.netns, self.table)
        except NetError as exc:  # nft failing is a fact to report, not a failed scrape
            log.warning("cannot read the firewall: %s", exc.detail)
            live = None
        loaded = GaugeMetricFamily("corridor_firewall_loaded",
                                   f"1 while table inet {self.table} is loaded")
        loaded.add_metric([], 0 if live is None else 1)
        packets = CounterMetricFamily("corridor_firewall_packets",
                                      "Packets matched by a counted rule", labels=["rule"])
        octets = CounterMetricFamily("corridor_firewall_bytes",
                                     "Bytes matched by a counted rule", labels=["rule"])
        dropped = CounterMetricFamily(
            "corridor_firewall_dropped_packets",
            "Packets a guarded port dropped, by source (the busiest sources)",
            labels=["source"])
        dropped_bytes = CounterMetricFamily(
            "corridor_firewall_dropped_bytes",
            "Bytes a guarded port dropped, by source (the busiest sources)", labels=["source"])
        if live is not None:
            # Two rules may share a comment (IPv4 and IPv6 sets of one partner): one series.
            by_rule: dict[str, tuple[int, int]] = {}
            for c in nft.rule_counters(live):
                p, b = by_rule.get(c.rule, (0, 0))
                by_rule[c.rule] = (p + c.packets, b + c.bytes)
            for rule, (p, b) in sorted(by_rule.items()):
                packets.add_metric([rule], p)
                octets.add_metric([rule], b)
            for d in nft.dropped_sources(live)[: self.top]:
                dropped.add_metric([d.source], d.packets)
                dropped_bytes.add_metric([d.source], d.bytes)
        yield from (loaded, packets, octets, dropped, dropped_bytes)
