"""Writing a group-commit batch: one bulk statement per table, in dependency order."""

from __future__ import annotations

from typing import Any

from corridor.store.adapter import Connection
from corridor.store.changes import Changes
from corridor.store.rows import QUOTE_COLUMNS, TRANSFER_COLUMNS, quote_row

EVENT_COLUMNS = ("id", "type", "transfer_id", "at", "data")
ENTRY_COLUMNS = (
    "journal_id", "transfer_id", "kind", "state", "account", "currency", "amount", "at",
)
RECONCILE_COLUMNS = (
    "transfer_id", "kind", "hub_status", "partner_status", "partner_reference", "detail",
    "action", "at",
)
OUTBOX_INSERT = (
    "kind", "transfer_id", "partner_id", "payload", "state", "attempts", "due_at",
    "last_error", "created_at",
)


def flush_changes(c: Connection, out: Changes, daily_stored: set[tuple[str, str, str]]) -> None:
    """Write a batch's changes: one bulk statement per table, in dependency order.
    `daily_stored` are the sender-day totals that already have a row in the store."""
    if out.quotes:
        c.insert_many("quotes", QUOTE_COLUMNS, [quote_row(q) for q in out.quotes])
    new = {row.id for row in out.transfers}
    if out.transfers:
        c.insert_many("transfers", TRANSFER_COLUMNS, [r.values() for r in out.transfers])
    # New rows were written in their final state; only older rows need an UPDATE, once.
    last: dict[str, tuple[str, str | None, str | None, str]] = {}
    for tid, status, code, reason, at in out.updates:
        if tid not in new:
            last[tid] = (status, code, reason, at)
    c.executemany(
        "UPDATE transfers SET status = ?, code = ?, reason = ?, updated_at = ? WHERE id = ?",
        [(*v, tid) for tid, v in last.items()],
    )
    c.insert_many("events", EVENT_COLUMNS, out.events)
    c.insert_many("entries", ENTRY_COLUMNS, out.entries)
    sums: dict[str, list[Any]] = {}
    for account, currency, posted, pending in out.balances:
        s = sums.setdefault(account, [account, currency, 0, 0])
        s[2] += posted
        s[3] += pending
    c.add_many("accounts", ("account",), ("currency",), ("posted", "pending"),
               [tuple(v) for _, v in sorted(sums.items())])
    daily: dict[tuple[str, str, str], int] = {}
    for p, s, d, amount in out.daily:
        daily[(p, s, d)] = daily.get((p, s, d), 0) + amount
    # Most senders have no row for the day yet: those are plain bulk inserts (the batch
    # holds the write lock, so no other writer adds one meanwhile); only the others
    # need an upsert, which SQLite runs one row per step.
    stored = daily_stored
    c.insert_many("sender_daily", ("sender_key", "day", "partner_id", "total"),
                  [(s, d, p, v) for (p, s, d), v in daily.items() if (p, s, d) not in stored])
    c.add_many("sender_daily", ("sender_key", "day", "partner_id"), (), ("total",),
               [(s, d, p, v) for (p, s, d), v in daily.items() if (p, s, d) in stored])
    c.insert_many("idempotency",
                  ("partner_id", "key", "body_hash", "status", "response", "created_at"),
                  out.idempotency)
    c.insert_many("outbox", OUTBOX_INSERT, out.outbox)
    c.executemany(
        "UPDATE outbox SET state = ?, attempts = ?, due_at = ?, last_error = ? WHERE id = ?",
        out.outbox_updates,
    )
    c.executemany(
        "UPDATE outbox SET state = ?, due_at = ?, last_error = ?, give_up_at = ? "
        "WHERE id = ?", out.outbox_retries,
    )
    c.executemany(
        "UPDATE outbox SET due_at = ? WHERE transfer_id = ? AND kind = ? "
        "AND state <> 'done'", out.reschedules,
    )
    c.executemany(
        "UPDATE outbox SET state = 'done' WHERE transfer_id = ? AND kind = ? "
        "AND state <> 'done'", out.outbox_closes,
    )
    c.insert_many("reconciliation", RECONCILE_COLUMNS, out.flags)
    c.executemany(
        "UPDATE reconciliation SET resolved_at = ?, resolved_by = ?, resolution = ? "
        "WHERE id = ? AND resolved_at IS NULL", out.resolutions,
    )
    c.insert_many("payouts", ("transfer_id", "journal_id", "at"), out.payouts)
    c.insert_many("fundings",
                  ("partner_id", "reference", "currency", "amount", "journal_id", "at"),
                  out.fundings)
    c.insert_many("compliance_decisions", ("transfer_id", "decision", "analyst", "note", "at"),
                  out.decisions)

