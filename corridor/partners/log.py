"""The partner log: one JSON line per onboarding and offboarding, at DATA/partners/log.jsonl,
saying who did what to which partner and when, which site files changed, the certificate
issued or revoked, what became of transfers in flight and of the live perimeter. Never a
secret: an API key appears only as the fact that one was made."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corridor.net.applylog import who


def path(data_dir: Path) -> Path:
    return data_dir / "partners" / "log.jsonl"


def record(data_dir: Path, action: str, partner: str, **details: Any) -> None:
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "who": who(),
        "action": action,
        "partner": partner,
        **details,
    }
    target = path(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def read(data_dir: Path) -> list[dict[str, Any]]:
    target = path(data_dir)
    if not target.is_file():
        return []
    return [json.loads(line) for line in target.read_text("utf-8").splitlines() if line]
