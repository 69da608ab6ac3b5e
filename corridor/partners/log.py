"""The partner log: one JSON line per onboarding and offboarding, at DATA/partners/log.jsonl,
saying who did what to which partner and when, which site files changed, the certificate
issued or revoked, what became of transfers in flight and of the live perimeter. Never a
secret: an API key appears only as the fact that one was made.

It is opened before the site changes, so that a change that could not be recorded is not
made; each line is one `write` on an O_APPEND descriptor, which the kernel keeps whole.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from corridor.net.applylog import who


def path(data_dir: Path) -> Path:
    return data_dir / "partners" / "log.jsonl"


class PartnerLog:
    def __init__(self, data_dir: Path) -> None:
        target = path(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __enter__(self) -> PartnerLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        os.close(self._fd)

    def record(self, action: str, partner: str, **details: Any) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "who": who(),
            "action": action,
            "partner": partner,
            **details,
        }
        os.write(self._fd, (json.dumps(entry, sort_keys=True) + "\n").encode())


def read(data_dir: Path) -> list[dict[str, Any]]:
    target = path(data_dir)
    if not target.is_file():
        return []
    return [json.loads(line) for line in target.read_text("utf-8").splitlines() if line]
