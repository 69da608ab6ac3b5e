"""Writing a group commit: one bulk statement per table, in dependency order."""

from __future__ import annotations

from typing import Any

from corridor.store.adapter import Connection
from corridor.store.changes import Changes, StatusUpdate
from corridor.store.rows import (
    DecisionRow,
    EntryRow,
    EventRow,
    FlagRow,
    FundingRow,
    IdempotencyRow,
    NewMessage,
    PayoutRow,
    QuoteRow,
    RecallRow,
    ReturnRow,
    TransferRow,
    quote_row,
)


def flush_changes(c: Connection, out: Changes, daily_stored: set[tuple[str, str, str]]) -> None:
    """Write a group's changes: one bulk statement per table, in dependency order.
    `daily_stored` are the sender-day totals that already have a row in the store."""
    if out.quotes:
        c.insert_rows(QuoteRow, [quote_row(q) for q in out.quotes])
    new = {row.id for row in out.transfers}
    c.insert_rows(TransferRow, out.transfers)
    # New rows were written in their final state; only older rows need an UPDATE, once.
    last: dict[str, StatusUpdate] = {}
    for u in out.updates:
        if u.transfer_id not in new:
            last[u.transfer_id] = u
    c.executemany(
        "UPDATE transfers SET status = ?, code = ?, reason = ?, updated_at = ? WHERE id = ?",
        [(u.status, u.code, u.reason, u.at, u.transfer_id) for u in last.values()],
    )
    c.insert_rows(EventRow, out.events)
    c.insert_rows(EntryRow, out.entries)
    sums: dict[str, list[Any]] = {}
    for m in out.balances:
        s = sums.setdefault(m.account, [m.account, m.currency, 0, 0])
        s[2] += m.posted
        s[3] += m.pending
    c.add_many("accounts", ("account",), ("currency",), ("posted", "pending"),
               [tuple(v) for _, v in sorted(sums.items())])
    daily: dict[tuple[str, str, str], int] = {}
    for d in out.daily:
        key = (d.partner_id, d.sender_key, d.day)
        daily[key] = daily.get(key, 0) + d.amount
    # Most senders have no row for the day yet: those are plain bulk inserts (the group
    # holds the write lock, so no other writer adds one meanwhile); only the others
    # need an upsert, which SQLite runs one row per step.
    c.insert_many("sender_daily", ("sender_key", "day", "partner_id", "total"),
                  [(s, d, p, v) for (p, s, d), v in daily.items() if (p, s, d) not in daily_stored])
    c.add_many("sender_daily", ("sender_key", "day", "partner_id"), (), ("total",),
               [(s, d, p, v) for (p, s, d), v in daily.items() if (p, s, d) in daily_stored])
    c.insert_rows(IdempotencyRow, out.idempotency)
    c.insert_rows(NewMessage, out.outbox)
    c.executemany(
        "UPDATE outbox SET state = ?, attempts = ?, due_at = ?, last_error = ? WHERE id = ?",
        [(u.state, u.attempts, u.due_at, u.last_error, u.outbox_id) for u in out.outbox_updates],
    )
    c.executemany(
        "UPDATE outbox SET state = ?, due_at = ?, last_error = ?, give_up_at = ? "
        "WHERE id = ?",
        [(r.state, r.due_at, r.last_error, r.give_up_at, r.outbox_id)
         for r in out.outbox_retries],
    )
    c.executemany(
        "UPDATE outbox SET due_at = ? WHERE transfer_id = ? AND kind = ? "
        "AND state <> 'done'", [(r.due_at, r.transfer_id, r.kind) for r in out.reschedules],
    )
    c.executemany(
        "UPDATE outbox SET state = 'done' WHERE transfer_id = ? AND kind = ? "
        "AND state <> 'done'", [(r.transfer_id, r.kind) for r in out.outbox_closes],
    )
    c.insert_rows(FlagRow, out.flags)
    c.executemany(
        "UPDATE reconciliation SET resolved_at = ?, resolved_by = ?, resolution = ? "
        "WHERE id = ? AND resolved_at IS NULL",
        [(r.at, r.by, r.note, r.flag_id) for r in out.resolutions],
    )
    c.insert_rows(PayoutRow, out.payouts)
    c.insert_rows(FundingRow, out.fundings)
    c.insert_rows(DecisionRow, out.decisions)
    c.insert_rows(ReturnRow, out.returns)
    c.insert_rows(RecallRow, out.recalls)
    c.executemany(
        "UPDATE recalls SET status = ?, answered_at = COALESCE(?, answered_at), "
        "answer = COALESCE(?, answer) WHERE transfer_id = ?",
        [(u.status, u.answered_at, u.answer, u.transfer_id) for u in out.recall_updates],
    )
