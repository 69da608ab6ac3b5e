"""Lock-out: too many failed logins from one source address lock that source out.

Counted per source address, not per admin name, so that guessing cannot lock a real
admin out from their own workstation and a guesser cannot move on to another name.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class Lockout:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = {}

    def locked(self, source: str) -> float:
        """Seconds the source stays locked out (0 when it is not)."""
        until = self._locked_until.get(source, 0.0)
        left = until - self._clock()
        if left <= 0:
            self._locked_until.pop(source, None)
            return 0.0
        return left

    def failure(self, source: str, limit: int, window: float, lock: float) -> bool:
        """Record a failure; True when it locks the source out."""
        now = self._clock()
        seen = self._failures.setdefault(source, deque())
        seen.append(now)
        while seen and seen[0] < now - window:
            seen.popleft()
        if len(seen) >= limit:
            self._locked_until[source] = now + lock
            seen.clear()
            return True
        return False

    def success(self, source: str) -> None:
        self._failures.pop(source, None)
