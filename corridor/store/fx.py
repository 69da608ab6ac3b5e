"""The `fx_rates` table: every rate pushed (live, or pending a second operator), and the
rates quotes were priced on. Callers run the writes inside `Connection.write()`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from corridor.core.fx import Pair, Rate
from corridor.core.times import parse_time
from corridor.store.adapter import Connection

LIVE, PENDING = "live", "pending"
_COLUMNS = ("id, base, quote, rate, source, given_at, recorded_at, recorded_by, state, "
            "move_bps, confirmed_by, confirmed_at")


@dataclass(frozen=True, slots=True)
class RateRow:
    """One row of `fx_rates`: the rate and its audit trail."""

    id: int
    base: str
    quote: str
    rate: str
    source: str
    given_at: str
    recorded_at: str
    recorded_by: str
    state: str  # live | pending
    move_bps: int | None  # set when the move was beyond the band
    confirmed_by: str | None
    confirmed_at: str | None

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"

    def as_rate(self) -> Rate:
        return Rate(self.base, self.quote, Decimal(self.rate), self.source,
                    parse_time(self.given_at), self.id)


def _rows(conn: Connection, where: str, params: tuple[object, ...]) -> list[RateRow]:
    return [RateRow(int(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                    None if r[9] is None else int(r[9]), r[10], r[11])
            for r in conn.query(f"SELECT {_COLUMNS} FROM fx_rates {where}", params)]


def live(conn: Connection) -> dict[Pair, Rate]:
    """The newest live rate of every pair that has one."""
    rows = _rows(conn, "WHERE id IN (SELECT MAX(id) FROM fx_rates WHERE state = ? "
                       "GROUP BY base, quote)", (LIVE,))
    return {(r.base, r.quote): r.as_rate() for r in rows}


def current(conn: Connection, pair: Pair) -> RateRow | None:
    """The pair's newest live rate, locked on PostgreSQL until the transaction ends."""
    found = _rows(conn, f"WHERE base = ? AND quote = ? AND state = ? ORDER BY id DESC LIMIT 1"
                        f"{conn.for_update}", (*pair, LIVE))
    return found[0] if found else None


def get(conn: Connection, rate_id: int) -> RateRow | None:
    found = _rows(conn, f"WHERE id = ?{conn.for_update}", (rate_id,))
    return found[0] if found else None


def history(conn: Connection, pair: Pair | None = None, limit: int = 50) -> list[RateRow]:
    """Rates newest first, of one pair or all."""
    if pair is None:
        return _rows(conn, "ORDER BY id DESC LIMIT ?", (limit,))
    return _rows(conn, "WHERE base = ? AND quote = ? ORDER BY id DESC LIMIT ?", (*pair, limit))


def record(conn: Connection, pair: Pair, rate: Decimal, source: str, given_at: str,
           recorded_at: str, by: str, state: str, move_bps: int | None) -> int:
    """Insert a rate; its id."""
    conn.execute(
        "INSERT INTO fx_rates (base, quote, rate, source, given_at, recorded_at, recorded_by, "
        "state, move_bps) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*pair, str(rate), source, given_at, recorded_at, by, state, move_bps))
    found = conn.query("SELECT MAX(id) FROM fx_rates WHERE base = ? AND quote = ? AND "
                       "recorded_at = ? AND recorded_by = ?", (*pair, recorded_at, by))
    return int(found[0][0])


def confirm(conn: Connection, rate_id: int, by: str, at: str) -> None:
    """A pending rate becomes live, confirmed by `by` at `at`."""
    conn.execute("UPDATE fx_rates SET state = ?, confirmed_by = ?, confirmed_at = ? "
                 "WHERE id = ? AND state = ?", (LIVE, by, at, rate_id, PENDING))


def used(conn: Connection, since: str | None = None, until: str | None = None,
         partner_id: str | None = None, limit: int = 1000) -> list[tuple[object, ...]]:
    """Transfers with the rate their quote was priced on: (transfer id, partner, created
    at, send currency, receive currency, mid rate, customer rate, rate id, source, given
    at), oldest first."""
    where, params = [], []
    for column, op, value in (("t.created_at", ">=", since), ("t.created_at", "<", until),
                              ("t.partner_id", "=", partner_id)):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    sql = ("SELECT t.id, t.partner_id, t.created_at, t.send_currency, t.receive_currency, "
           "q.mid_rate, q.rate, q.fx_rate_id, r.source, r.given_at FROM transfers t "
           "JOIN quotes q ON q.id = t.quote_id LEFT JOIN fx_rates r ON r.id = q.fx_rate_id"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.id LIMIT ?")
    return [tuple(r) for r in conn.query(sql, (*params, limit))]
