"""Lock-out: too many failed logins from one source address lock that source out.

Counted per source address, not per admin name, so that guessing cannot lock a real
admin out from their own workstation and a guesser cannot move on to another name.

A lock-out outlives a restart of the bastion: when a source is locked out, the deadline
(wall-clock time) is written to a file under the jump server's state, which the next start
reads. Failures that have not yet added up to a lock-out are counted in memory only.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from corridor.jump.state import StateUnreadable, read_object
from corridor.pki.files import write_secret


class Lockout:
    def __init__(self, path: Path | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._locked_until: dict[str, float] = self._load(path) if path else {}

    def _load(self, path: Path) -> dict[str, float]:
        # Starting empty would lift every lock-out in force: stop instead.
        raw = read_object(path, LockoutsUnreadable,
                          lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        now = self._clock()
        return {str(k): float(v) for k, v in raw.items() if v > now}

    def _save(self) -> None:
        if self._path is not None:
            write_secret(self._path, json.dumps(self._locked_until, sort_keys=True).encode())

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
            self._locked_until = {s: t for s, t in self._locked_until.items() if t > now}
            self._locked_until[source] = now + lock
            seen.clear()
            self._save()
            return True
        return False

    def success(self, source: str) -> None:
        self._failures.pop(source, None)


class LockoutsUnreadable(StateUnreadable):
    """The lock-out file exists but is not the JSON object the bastion writes."""

    what = "a lock-out list"
