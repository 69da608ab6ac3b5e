"""Read-side queries: a transfer and its history, listings, the event feed, balances, the
facts `corridor ledger verify` judges and the figures a backup's manifest records. Portable
SQL only."""

from __future__ import annotations

from typing import TypedDict

import msgspec

from corridor.core.pricing import Quote
from corridor.core.states import FINAL, Status
from corridor.store.adapter import Connection, Row
from corridor.store.rows import QUOTE_COLUMNS, TRANSFER_SELECT, TransferRow, row_quote


def transfer(conn: Connection, transfer_id: str) -> TransferRow | None:
    rows = conn.query(f"{TRANSFER_SELECT} WHERE id = ?", (transfer_id,))
    return TransferRow(*rows[0]) if rows else None


class HistoryEntry(TypedDict):
    """One status change of a transfer, as `history` reads it from the event feed."""

    status: str  # a `Status` value, as the event recorded it
    at: str
    code: str | None
    reason: str | None


def history(conn: Connection, transfer_id: str) -> list[HistoryEntry]:
    """The status changes of one transfer, oldest first (from the event feed)."""
    out: list[HistoryEntry] = []
    for at, data in conn.query(
        "SELECT at, data FROM events WHERE transfer_id = ? AND type = 'transfer.status' "
        "ORDER BY seq", (transfer_id,)
    ):
        d = msgspec.json.decode(data)
        out.append({"status": d["status"], "at": at, "code": d.get("code"),
                    "reason": d.get("reason")})
    return out


def transfers(conn: Connection, *, partner_id: str | None = None, status: str | None = None,
              reference: str | None = None, since: str | None = None, until: str | None = None,
              after_id: str | None = None, limit: int = 100) -> list[TransferRow]:
    """Transfers in id (time) order after the cursor `after_id`."""
    where, params = [], []
    for column, op, value in (
        ("partner_id", "=", partner_id), ("status", "=", status), ("reference", "=", reference),
        ("created_at", ">=", since), ("created_at", "<", until), ("id", ">", after_id),
    ):
        if value is not None:
            where.append(f"{column} {op} ?")
            params.append(value)
    sql = TRANSFER_SELECT + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.query(sql + " ORDER BY id LIMIT ?", (*params, limit))
    return [TransferRow(*r) for r in rows]


def in_flight(conn: Connection, partner_id: str) -> list[TransferRow]:
    """Transfers not yet in a final state that `partner_id` sent or is paying out, oldest
    first: what stops the partner from being offboarded."""
    states = sorted(s.value for s in Status if s not in FINAL)
    marks = ", ".join("?" * len(states))
    rows = conn.query(
        f"{TRANSFER_SELECT} WHERE status IN ({marks}) AND "
        "(partner_id = ? OR receive_partner_id = ?) ORDER BY id",
        (*states, partner_id, partner_id),
    )
    return [TransferRow(*r) for r in rows]


def events(conn: Connection, after: int, limit: int) -> list[Row]:
    """(seq, id, type, transfer_id, at, data) in commit order after the cursor."""
    return conn.query(
        "SELECT seq, id, type, transfer_id, at, data FROM events WHERE seq > ? "
        "ORDER BY seq LIMIT ?", (after, limit)
    )


def balances(conn: Connection) -> list[Row]:
    """(account, currency, posted, pending) of every account."""
    return conn.query("SELECT account, currency, posted, pending FROM accounts ORDER BY account")


def activity(conn: Connection, since: str, until: str) -> list[Row]:
    """Posted movement per account and currency in [since, until)."""
    return conn.query(
        "SELECT account, currency, SUM(amount) FROM entries WHERE state = 'posted' "
        "AND at >= ? AND at < ? GROUP BY account, currency ORDER BY account", (since, until)
    )


def outbox(conn: Connection, kind: str | None = None, state: str | None = None,
           limit: int = 100) -> list[Row]:
    where, params = [], []
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if state:
        where.append("state = ?")
        params.append(state)
    sql = ("SELECT id, kind, transfer_id, partner_id, state, attempts, due_at, last_error "
           "FROM outbox")
    if where:
        sql += " WHERE " + " AND ".join(where)
    return conn.query(sql + " ORDER BY id LIMIT ?", (*params, limit))


def reconciliation(conn: Connection, open_only: bool = True) -> list[Row]:
    """(id, transfer_id, kind, hub_status, partner_status, partner_reference, detail,
    action, at, resolved_at, resolved_by, resolution) of flagged contradictions, oldest
    first."""
    sql = ("SELECT id, transfer_id, kind, hub_status, partner_status, partner_reference, "
           "detail, action, at, resolved_at, resolved_by, resolution FROM reconciliation")
    if open_only:
        sql += " WHERE resolved_at IS NULL"
    return conn.query(sql + " ORDER BY id")


# -- facts for TXN's Prometheus gauges (read at scrape time; each is an indexed or small read) --

def unknown_payouts(conn: Connection) -> list[Row]:
    """(receive partner, count, oldest updated_at) of the transfers in UNKNOWN."""
    return conn.query(
        "SELECT receive_partner_id, COUNT(*), MIN(updated_at) FROM transfers "
        "WHERE status = 'UNKNOWN' GROUP BY receive_partner_id ORDER BY receive_partner_id"
    )


def parked_messages(conn: Connection, kind: str) -> list[Row]:
    """(partner, count) of outbox messages of `kind` parked after failing (`dead`). The
    kind lets the (kind, state, due_at) index answer: delivered messages are kept, so the
    table only grows."""
    return conn.query(
        "SELECT partner_id, COUNT(*) FROM outbox WHERE kind = ? AND state = 'dead' "
        "GROUP BY partner_id ORDER BY partner_id", (kind,)
    )


def open_flags(conn: Connection) -> list[Row]:
    """(kind, count) of the flagged contradictions nobody has resolved yet."""
    return conn.query(
        "SELECT kind, COUNT(*) FROM reconciliation WHERE resolved_at IS NULL "
        "GROUP BY kind ORDER BY kind"
    )


def last_event_seq(conn: Connection) -> int:
    """The seq of the newest event of the feed (0 when there is none)."""
    rows = conn.query("SELECT MAX(seq) FROM events")
    return int(rows[0][0] or 0)


# -- what a backup's manifest records --------------------------------------------------------

def event_count(conn: Connection) -> int:
    """How many events the feed holds (its seqs may have gaps on PostgreSQL)."""
    return int(conn.query("SELECT COUNT(*) FROM events")[0][0])


def transfer_count(conn: Connection) -> int:
    return int(conn.query("SELECT COUNT(*) FROM transfers")[0][0])


def schema_version(conn: Connection) -> int:
    """The newest migration applied to the store."""
    return int(conn.query("SELECT MAX(version) FROM schema_version")[0][0] or 0)


# -- facts for `corridor ledger verify` ----------------------------------------------------

def unbalanced_journals(conn: Connection) -> list[Row]:
    return conn.query(
        "SELECT journal_id, currency, SUM(amount) FROM entries GROUP BY journal_id, currency "
        "HAVING SUM(amount) <> 0 ORDER BY journal_id"
    )


def drifted_balances(conn: Connection) -> list[Row]:
    """Accounts whose running balance differs from the sum of their entries."""
    sums = {
        a: (int(p), int(q))
        for a, p, q in conn.query(
            "SELECT account, SUM(CASE WHEN state = 'posted' THEN amount ELSE 0 END), "
            "SUM(CASE WHEN state = 'pending' THEN amount ELSE 0 END) FROM entries "
            "GROUP BY account"
        )
    }
    out: list[Row] = []
    for account, _, posted, pending in balances(conn):
        if sums.pop(account, (0, 0)) != (int(posted), int(pending)):
            out.append((account, int(posted), int(pending)))
    out.extend((a, None, None) for a in sums)
    return out


def double_payouts(conn: Connection) -> list[Row]:
    return conn.query(
        "SELECT transfer_id, COUNT(DISTINCT journal_id) FROM entries WHERE kind = 'post' "
        "GROUP BY transfer_id HAVING COUNT(DISTINCT journal_id) > 1"
    )


def transfer_float_legs(conn: Connection) -> list[Row]:
    """(id, status, send_minor + fee_minor, pending float sum, posted float sum) for every
    transfer: what its ledger says next to what its state says."""
    # Entries are summed per transfer in one pass (they have no index by transfer: the
    # write path does not pay for one), then joined to the transfers.
    return conn.query(
        "SELECT t.id, t.status, t.send_minor + t.fee_minor, COALESCE(f.pending, 0), "
        "COALESCE(f.posted, 0) FROM transfers t LEFT JOIN ("
        "SELECT transfer_id, SUM(CASE WHEN state = 'pending' THEN amount ELSE 0 END) AS pending, "
        "SUM(CASE WHEN state = 'posted' THEN amount ELSE 0 END) AS posted FROM entries "
        "WHERE transfer_id IS NOT NULL AND account LIKE ? GROUP BY transfer_id"
        ") f ON f.transfer_id = t.id", ("float:%",)
    )


def quote(conn: Connection, quote_id: str) -> Quote | None:
    """A stored quote as the domain's `Quote`, or None."""

    rows = conn.query(f"SELECT {', '.join(QUOTE_COLUMNS)} FROM quotes WHERE id = ?", (quote_id,))
    return row_quote(rows[0]) if rows else None


def held(conn: Connection) -> list[TransferRow]:
    """Transfers waiting for an analyst, oldest first."""
    return transfers(conn, status="COMPLIANCE_HOLD", limit=10_000)


# -- one transfer's whole record, for `corridor trace` ----------------------------------------

def transfer_events(conn: Connection, transfer_id: str) -> list[Row]:
    """(seq, type, at, data) of every event about one transfer, in commit order."""
    return conn.query("SELECT seq, type, at, data FROM events WHERE transfer_id = ? ORDER BY seq",
                      (transfer_id,))


def transfer_entries(conn: Connection, transfer_id: str) -> list[Row]:
    """(journal_id, kind, state, account, currency, amount, at) of one transfer's ledger legs.
    Entries have no index by transfer (the write path does not pay for one): this reads the
    table once, which an operator's look-up can afford."""
    return conn.query(
        "SELECT journal_id, kind, state, account, currency, amount, at FROM entries "
        "WHERE transfer_id = ? ORDER BY id", (transfer_id,)
    )


def transfer_messages(conn: Connection, transfer_id: str) -> list[Row]:
    """(id, kind, partner_id, state, attempts, created_at, due_at, last_error, give_up_at) of
    one transfer's outbox messages: its payout and its sender callback."""
    return conn.query(
        "SELECT id, kind, partner_id, state, attempts, created_at, due_at, last_error, "
        "give_up_at FROM outbox WHERE transfer_id = ? ORDER BY id", (transfer_id,)
    )


def transfer_flags(conn: Connection, transfer_id: str) -> list[Row]:
    """(kind, partner_status, detail, action, at, resolved_at) of one transfer's flags."""
    return conn.query(
        "SELECT kind, partner_status, detail, action, at, resolved_at FROM reconciliation "
        "WHERE transfer_id = ? ORDER BY id", (transfer_id,)
    )


def double_returns(conn: Connection) -> list[Row]:
    """Transfers with more than one return journal (never: a return is booked once)."""
    return conn.query(
        "SELECT transfer_id, COUNT(DISTINCT journal_id) FROM entries WHERE kind = 'return' "
        "GROUP BY transfer_id HAVING COUNT(DISTINCT journal_id) > 1"
    )


def returned_amounts(conn: Connection) -> dict[str, tuple[int, int, int, int]]:
    """(send, fee, FX margin, receive) in minor units of every RETURNED transfer."""
    return {i: (int(s), int(f), int(m), int(r)) for i, s, f, m, r in conn.query(
        "SELECT id, send_minor, fee_minor, fx_margin_minor, receive_minor FROM transfers "
        "WHERE status = 'RETURNED'")}
