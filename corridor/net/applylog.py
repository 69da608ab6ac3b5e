"""The apply log: one JSON line per apply attempt, saying who, what changed, when and
whether it worked. Kept under the data directory (`var/net/apply.log`)."""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from pathlib import Path


def who() -> str:
    """The operator: the sudo caller when there is one, else the login user."""
    return os.environ.get("SUDO_USER") or getpass.getuser()


def record(data_dir: Path, what: str, target: str, changed: list[str], ok: bool,
           error: str | None = None) -> None:
    folder = data_dir / "net"
    folder.mkdir(parents=True, exist_ok=True)
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "who": who(),
        "what": what,
        "target": target,
        "changed": changed,
        "ok": ok,
    }
    if error:
        entry["error"] = error
    with open(folder / "apply.log", "a", encoding="utf-8") as log:
        log.write(json.dumps(entry, sort_keys=True) + "\n")


def read(data_dir: Path) -> list[dict[str, object]]:
    path = data_dir / "net" / "apply.log"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
