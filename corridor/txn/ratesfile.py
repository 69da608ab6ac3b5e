"""A rates file the treasury writes and `corridor fx watch` follows: CSV with a header,

    pair,rate,source,at
    INR/KES,1.5412,refinitiv,2026-11-30T08:00:00Z

(`source` and `at` may be left empty: "rates-file" and the time the file was read). Each
version of the file is taken whole or not at all: a line that does not parse refuses the
version, every fault said as `FILE:LINE: message`, nothing pushed. A good version's lines
are pushed in order as `corridor fx set` would push them (a move beyond the band becomes a
proposal for a second operator); a line the pair's newest rate (live or proposed) already
equals is skipped, so reading the same file again pushes nothing twice. (The standard
library's csv reads the lines; the rules are `corridor.core.fx`'s.)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from corridor.core import fx
from corridor.core.errors import CorridorError
from corridor.core.pricing import Tariff
from corridor.core.times import parse_time, rfc3339
from corridor.store import Connection
from corridor.store import fx as rates_store
from corridor.txn.fx import push, refusal

SOURCE = "rates-file"
COLUMNS = ("pair", "rate", "source", "at")


@dataclass(frozen=True, slots=True)
class Line:
    number: int
    pair: str
    rate: str
    source: str
    at: str | None


def read(path: Path) -> tuple[list[Line], list[str]]:
    """The file's lines, and its faults as `FILE:LINE: message` (none: take it)."""
    lines, faults = [], []
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return [], [f"{path}:1: cannot read it: {exc}"]
    if not rows or [c.strip() for c in rows[0]][:2] != ["pair", "rate"]:
        return [], [f"{path}:1: the first line must be the header {','.join(COLUMNS)}"]
    header = [c.strip() for c in rows[0]]
    if any(c not in COLUMNS for c in header):
        return [], [f"{path}:1: unknown column(s); the columns are {','.join(COLUMNS)}"]
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            faults.append(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
            continue
        cells = dict(zip(header, (c.strip() for c in row), strict=True))
        try:
            fx.parse_pair(cells["pair"])
            fx.parse_rate(cells["rate"])
            source = fx.parse_source(cells.get("source") or SOURCE)
            at = cells.get("at") or None
            if at is not None:
                parse_time(at)
        except CorridorError as exc:
            faults.append(f"{path}:{number}: {exc.code}: {exc.detail}")
            continue
        lines.append(Line(number, cells["pair"], cells["rate"], source, at))
    return lines, faults


def apply(conn: Connection, tariff: Tariff, path: Path, lines: list[Line], by: str,
          now: datetime) -> tuple[list[str], list[str]]:
    """Push a good version's lines: (what was done, what was refused), one line each."""
    done, refused = [], []
    for line in lines:
        pair = fx.parse_pair(line.pair)
        newest = rates_store.history(conn, pair, 1)  # live or proposed
        at = rfc3339(parse_time(line.at)) if line.at else None
        if newest and at == newest[0].given_at and \
                fx.parse_rate(line.rate) == fx.parse_rate(newest[0].rate):
            continue  # the pair's newest rate already: this file was read before
        try:
            pushed = push(conn, tariff, line.pair, line.rate, source=line.source, by=by,
                          now=now, given_at=line.at)
        except CorridorError as exc:
            refused.append(f"{path}:{line.number}: {exc.code}: {exc.detail}")
            continue
        if pushed.pending:
            held = refusal(pushed, tariff.fx_band_bps)
            refused.append(f"{path}:{line.number}: {held.code}: {held.detail}")
        else:
            done.append(f"{path}:{line.number}: rate {pushed.row.id}: {pushed.row.pair} "
                        f"{pushed.row.rate} is live")
    return done, refused
