"""Recordings of brokered sessions as asciicast v2 files (playable by `asciinema play`),
with a small JSON sidecar per session holding who, where, when and the commands typed,
so that `corridor jump sessions --grep` can search them without replaying anything."""

from __future__ import annotations

import codecs
import json
import os
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from corridor.jump.audit import now_rfc3339
from corridor.pki.files import write_secret

_ESCAPES = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|O.|.)")


def new_session_id(admin: str, host: str) -> str:
    """Time-sortable and readable: 20260501-101502-asha-txn-9f3a1c."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{admin}-{host}-{secrets.token_hex(3)}"


class LineTracker:
    """Rebuilds the command lines an admin typed from raw terminal input (backspace and
    Ctrl-U edit the line; escape sequences such as arrow keys are dropped)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._line: list[str] = []

    def feed(self, text: str) -> None:
        for ch in _ESCAPES.sub("", text):
            if ch in "\r\n":
                line = "".join(self._line).strip()
                if line:
                    self.lines.append(line)
                self._line.clear()
            elif ch in "\x7f\b":
                if self._line:
                    self._line.pop()
            elif ch in "\x15\x03":  # Ctrl-U and Ctrl-C abandon the line
                self._line.clear()
            elif ch >= " ":
                self._line.append(ch)

    def finish(self) -> list[str]:
        self.feed("\r")
        return self.lines


class Recorder:
    """Writes one session's asciicast v2 file as it happens, and its sidecar at the end."""

    def __init__(self, folder: Path, meta: dict[str, Any], width: int, height: int,
                 term: str) -> None:
        self.id: str = meta["id"]
        self.meta = dict(meta, started=now_rfc3339(), recording=f"{self.id}.cast")
        self.cast_path = folder / f"{self.id}.cast"
        self.meta_path = folder / f"{self.id}.json"
        fd = os.open(self.cast_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._out = os.fdopen(fd, "w", encoding="utf-8", buffering=1)
        self._t0 = time.monotonic()
        self._decoders = {k: codecs.getincrementaldecoder("utf-8")("replace") for k in "io"}
        self._lines = LineTracker()
        self.bytes = {"i": 0, "o": 0}
        header = {
            "version": 2, "width": width or 80, "height": height or 24,
            "timestamp": int(time.time()), "title": f"{meta['admin']}@{meta['host']}",
            "env": {"TERM": term or "xterm"},
        }
        self._out.write(json.dumps(header) + "\n")

    def _event(self, kind: str, data: bytes) -> None:
        self.bytes[kind] += len(data)
        text = self._decoders[kind].decode(data)
        if kind == "i":
            self._lines.feed(text)
        if text:
            elapsed = round(time.monotonic() - self._t0, 6)
            self._out.write(json.dumps([elapsed, kind, text]) + "\n")

    def output(self, data: bytes) -> None:
        self._event("o", data)

    def input(self, data: bytes) -> None:
        self._event("i", data)

    def resize(self, width: int, height: int) -> None:
        elapsed = round(time.monotonic() - self._t0, 6)
        self._out.write(json.dumps([elapsed, "r", f"{width}x{height}"]) + "\n")

    def close(self, **extra: Any) -> dict[str, Any]:
        self._out.close()
        self.meta.update(
            ended=now_rfc3339(),
            duration_s=round(time.monotonic() - self._t0, 3),
            bytes_in=self.bytes["i"], bytes_out=self.bytes["o"],
            commands=self._lines.finish(), **extra,
        )
        write_secret(self.meta_path, json.dumps(self.meta, indent=1).encode())
        return self.meta


def list_sessions(folder: Path) -> list[dict[str, Any]]:
    """Every finished session's sidecar, oldest first."""
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            out.append(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError):
            continue
    return out


def cast_events(path: Path) -> Iterator[tuple[float, str, str]]:
    """The events of an asciicast v2 file (after checking its header)."""
    with path.open(encoding="utf-8") as src:
        header = json.loads(src.readline() or "{}")
        if header.get("version") != 2:
            raise ValueError(f"{path.name} is not an asciicast v2 recording")
        for line in src:
            if line.strip():
                t, kind, data = json.loads(line)
                yield float(t), kind, data


def play(path: Path, speed: float = 1.0, max_idle: float = 2.0, out: IO[str] | None = None,
         sleep: Callable[[float], None] = time.sleep) -> None:
    """Replay the output of a recording in real time (scaled by `speed`, idle capped)."""
    out = out or sys.stdout
    last = 0.0
    for t, kind, data in cast_events(path):
        if kind != "o":
            continue
        wait = min(t - last, max_idle) / speed
        last = t
        if wait > 0:
            sleep(wait)
        out.write(data)
        out.flush()
