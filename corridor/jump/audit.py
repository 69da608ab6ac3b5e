"""The audit trail: one JSON object per line for every login attempt, decision and session,
and the Prometheus metrics beside it.

Events carry who, from where, to where, when and why; never a TOTP code, a key's private
half or what was typed (that is in the recording, which is 0600).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BastionAuditLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._out = os.fdopen(fd, "a", encoding="utf-8", buffering=1)

    def write(self, event: str, **fields: Any) -> None:
        record = {"time": now_rfc3339(), "event": event, **fields}
        self._out.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._out.close()


class JumpMetrics:
    """The bastion's counters in their own registry (several bastions may share a process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.logins = Counter(
            "corridor_jump_logins", "Login attempts by result", ["result"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "corridor_jump_refusals", "Refused requests by kind", ["kind"],
            registry=self.registry,
        )
        self.open_sessions = Gauge(
            "corridor_jump_open_sessions", "Sessions open now by kind", ["kind"],
            registry=self.registry,
        )
        self.bytes = Counter(
            "corridor_jump_bytes", "Bytes relayed by direction", ["direction"],
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
