"""Routing payouts between receive partners that serve the same corridor and payout
method, and the circuit breaker that takes a partner out of rotation.

A `Route` (hub.yaml `routing`) names the partners of one corridor and method, either in
priority order (the first available one takes every payout) or with weights (each payout
goes to one partner in proportion to its weight). The weighted choice is rendezvous
hashing on the transfer id: the same transfer always ranks the partners the same way, so
a retry or a restart after a crash never moves a payout by chance, and a partner leaving
rotation only moves the payouts that were its own.

A `Breaker` per receive partner counts consecutive failed or timed-out connects: at
`failures` it opens (the partner is out of rotation); after `cooldown` seconds a probe
is due; a probe that succeeds closes it, one that fails keeps it open for another
cooldown. Pure: the caller gives the time.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

CLOSED, OPEN, PROBING = "closed", "open", "probing"


@dataclass(frozen=True, slots=True)
class Route:
    corridor: str  # SEND-RECEIVE countries, e.g. IN-KE
    method: str  # payout method
    partners: tuple[str, ...]  # priority order (highest first)
    weights: tuple[int, ...] | None = None  # None: by priority; else one per partner

    @property
    def rule(self) -> str:
        return "priority" if self.weights is None else "weight"

    def ranking(self, transfer_id: str) -> list[str]:
        """Every partner of the route, best first, for this transfer."""
        if self.weights is None:
            return list(self.partners)
        scored = []
        for partner, weight in zip(self.partners, self.weights, strict=True):
            if weight <= 0:
                continue
            digest = hashlib.sha256(f"{transfer_id}/{partner}".encode()).digest()
            u = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 2)  # in (0, 1)
            scored.append((weight / -math.log(u), partner))
        scored.sort(reverse=True)
        return [p for _, p in scored]

    def choose(self, transfer_id: str, available: Callable[[str], bool],
               exclude: Iterable[str] = ()) -> str | None:
        """The best available partner for this transfer, or None when none is."""
        skip = set(exclude)
        for partner in self.ranking(transfer_id):
            if partner not in skip and available(partner):
                return partner
        return None


@dataclass(slots=True)
class Breaker:
    partner: str
    failures: int  # consecutive failures that open it
    cooldown: float  # seconds open before a probe
    state: str = CLOSED
    failed: int = 0  # consecutive failures so far
    since: datetime | None = None  # when it entered its state
    reason: str | None = None  # the last failure
    probe_at: datetime | None = None

    @property
    def available(self) -> bool:
        return self.state == CLOSED

    def success(self, now: datetime) -> bool:
        """A connect succeeded (or a probe did); True when the state changed."""
        self.failed = 0
        if self.state == CLOSED:
            return False
        return self._to(CLOSED, now, None)

    def failure(self, now: datetime, reason: str) -> bool:
        """A connect failed or timed out; True when the state changed."""
        self.failed += 1
        self.reason = reason
        if self.state == PROBING or (self.state == CLOSED and self.failed >= self.failures):
            changed = self._to(OPEN, now, reason)
            self.probe_at = now + timedelta(seconds=self.cooldown)
            return changed
        return False

    def probe_due(self, now: datetime) -> bool:
        return self.state == OPEN and self.probe_at is not None and now >= self.probe_at

    def probing(self, now: datetime) -> None:
        self._to(PROBING, now, self.reason)

    def _to(self, state: str, now: datetime, reason: str | None) -> bool:
        if state == self.state:
            return False
        self.state, self.since, self.reason = state, now, reason
        return True
