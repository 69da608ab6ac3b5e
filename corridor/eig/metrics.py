"""The gateway's Prometheus metrics, on their own registry (served on the internal
listener), plus the certificate-expiry gauges of the site's PKI."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram

from corridor.pki.watch import ExpiryCollector


class EigMetrics:
    def __init__(self, site_root: Path) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "corridor_eig_requests", "Partner API requests by route and status",
            ["route", "status"], registry=self.registry)
        self.latency = Histogram(
            "corridor_eig_request_seconds", "Partner API request time, TXN included",
            ["route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        # `partner` is the partner authenticated or, for an identity refusal, claimed by
        # its certificate pin or API key; empty when the caller claims none. Only site
        # partners' ids reach it, so a stranger cannot grow the label set.
        self.refusals = Counter(
            "corridor_eig_refusals", "Callers refused, by reason and partner (also in the "
            "audit log)", ["reason", "partner"], registry=self.registry)
        self.upstream_errors = Counter(
            "corridor_eig_txn_errors", "Relays to TXN that failed to get an answer",
            registry=self.registry)
        self.registry.register(ExpiryCollector(site_root))
