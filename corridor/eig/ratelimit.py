"""Per-partner token buckets, in memory, per EIG process.

Each partner may make `rate` requests a second on average and `burst` at once. With
several EIG processes behind one address each keeps its own buckets, so the effective
limit is per process; that keeps EIG stateless, which matters more here than exactness.
The defaults suit the demo and the bench; `corridor serve eig --rate/--burst` sets them.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

DEFAULT_RATE = 2000.0
DEFAULT_BURST = 4000


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class RateLimiter:
    rate: float = DEFAULT_RATE
    burst: int = DEFAULT_BURST
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str, now: float | None = None) -> int:
        """Spend one token; returns 0 when allowed, else the seconds to wait (>= 1)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))
