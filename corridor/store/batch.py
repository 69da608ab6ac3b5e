"""One group-commit transaction: what its commands read, and what they write.

A batch runs many commands in one transaction. First every command names what it will
read (`Needs`), and the batch loads it with one query per kind (accounts `FOR UPDATE` on
PostgreSQL). Then the commands run one after another against that snapshot; each writes
into its own `Changes`, which joins the batch only if the command succeeds, so a refused
command leaves no trace. Finally `flush` writes everything with one bulk statement per
table. Money state is always read from the store here, never kept in memory between
batches, so CLI writers can work beside a running server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from corridor.core.ledger import Leg
from corridor.core.pricing import Quote
from corridor.store.adapter import Connection
from corridor.store.rows import (
    OUTBOX_COLUMNS,
    QUOTE_COLUMNS,
    TRANSFER_COLUMNS,
    TRANSFER_SELECT,
    OutboxRow,
    Stored,
    TransferRow,
    quote_row,
    row_quote,
)

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


@dataclass
class Needs:
    """Keys the commands of a batch will read, loaded in bulk before they run."""

    idempotency: set[tuple[str, str]] = field(default_factory=set)
    quotes: set[str] = field(default_factory=set)
    references: set[tuple[str, str]] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    daily: set[tuple[str, str, str]] = field(default_factory=set)
    transfers: set[str] = field(default_factory=set)


class Changes:
    """What one command writes; joins its batch only when the command succeeds.

    A plain slotted class rather than a dataclass of `default_factory` lists: the writer
    makes one per command, so its construction is on the hot path."""

    __slots__ = (
        "balances", "daily", "decisions", "entries", "events", "flags", "fundings",
        "idempotency", "outbox", "outbox_closes", "outbox_retries", "outbox_updates",
        "payouts", "quotes", "reschedules", "resolutions", "transfers", "updates",
    )

    def __init__(self) -> None:
        self.quotes: list[Quote] = []
        self.transfers: list[TransferRow] = []
        self.updates: list[tuple[str, str, str | None, str | None, str]] = []
        self.events: list[tuple[str, str, str | None, str, str]] = []
        self.entries: list[tuple[Any, ...]] = []
        self.balances: list[tuple[str, str, int, int]] = []
        self.daily: list[tuple[str, str, str, int]] = []
        self.idempotency: list[tuple[str, str, str, int, str, str]] = []
        self.outbox: list[tuple[Any, ...]] = []
        self.outbox_updates: list[tuple[str, int, str, str | None, int]] = []
        self.outbox_closes: list[tuple[str, str]] = []
        self.outbox_retries: list[tuple[str, str, str | None, str | None, int]] = []
        self.reschedules: list[tuple[str, str, str]] = []
        self.flags: list[tuple[Any, ...]] = []
        self.resolutions: list[tuple[str, str, str, int]] = []
        self.payouts: list[tuple[str, str, str]] = []
        self.fundings: list[tuple[str, str, str, int, str, str]] = []
        self.decisions: list[tuple[str, str, str, str | None, str]] = []

    def transfer(self, row: TransferRow) -> None:
        self.transfers.append(row)

    def status(self, transfer_id: str, status: str, code: str | None, reason: str | None,
               at: str) -> None:
        self.updates.append((transfer_id, status, code, reason, at))

    def event(self, event_id: str, kind: str, transfer_id: str | None, at: str,
              data: str) -> None:
        self.events.append((event_id, kind, transfer_id, at, data))

    def journal(self, journal_id: str, transfer_id: str | None, kind: str, state: str,
                legs: Iterable[Leg], at: str) -> None:
        """Write legs (all `pending` or all `posted`) and move the running balances."""
        self.post(journal_rows(journal_id, transfer_id, kind, state, legs, at))

    def post(self, rows: JournalRows) -> None:
        """Write a journal made beforehand by `journal_rows`."""
        self.entries += rows[0]
        self.balances += rows[1]

    def add_daily(self, partner_id: str, sender_key: str, day: str, amount: int) -> None:
        self.daily.append((partner_id, sender_key, day, amount))

    def remember(self, partner_id: str, key: str, body_hash: str, status: int,
                 response: str, at: str) -> None:
        self.idempotency.append((partner_id, key, body_hash, status, response, at))

    def send(self, kind: str, transfer_id: str | None, partner_id: str, payload: str,
             due_at: str, at: str) -> None:
        self.outbox.append((kind, transfer_id, partner_id, payload, "pending", 0, due_at, None, at))

    def outbox_state(self, outbox_id: int, state: str, attempts: int, due_at: str,
                     error: str | None = None) -> None:
        self.outbox_updates.append((state, attempts, due_at, error, outbox_id))

    def outbox_retry(self, outbox_id: int, state: str, due_at: str, error: str | None,
                     give_up_at: str | None) -> None:
        """A delivery attempt's result: retry at `due_at`, `done`, or `dead` (parked)."""
        self.outbox_retries.append((state, due_at, error, give_up_at, outbox_id))

    def reschedule(self, transfer_id: str, kind: str, due_at: str) -> None:
        """Move a transfer's open messages of `kind` to `due_at` (the next status query)."""
        self.reschedules.append((due_at, transfer_id, kind))

    def flag(self, transfer_id: str, kind: str, hub_status: str, partner_status: str,
             partner_reference: str | None, detail: str, action: str, at: str) -> None:
        """Record a contradiction a person must reconcile."""
        self.flags.append((transfer_id, kind, hub_status, partner_status, partner_reference,
                           detail, action, at))

    def resolve(self, flag_id: int, by: str, note: str, at: str) -> None:
        """Close a flagged contradiction: who did, what they did, when."""
        self.resolutions.append((at, by, note, flag_id))

    def close_outbox(self, transfer_id: str, kind: str) -> None:
        """Mark a transfer's open outbox messages of `kind` done."""
        self.outbox_closes.append((transfer_id, kind))

    def payout(self, transfer_id: str, journal_id: str, at: str) -> None:
        self.payouts.append((transfer_id, journal_id, at))

    def funding(self, partner_id: str, reference: str, currency: str, amount: int,
                journal_id: str, at: str) -> None:
        self.fundings.append((partner_id, reference, currency, amount, journal_id, at))

    def decision(self, transfer_id: str, decision: str, analyst: str, note: str | None,
                 at: str) -> None:
        self.decisions.append((transfer_id, decision, analyst, note, at))


JournalRows = tuple[list[tuple[Any, ...]], list[tuple[str, str, int, int]]]


def journal_rows(journal_id: str, transfer_id: str | None, kind: str, state: str,
                 legs: Iterable[Leg], at: str) -> JournalRows:
    """The entry rows of a journal and the balance moves they make. Pure, so a command
    can build them before it is queued and the writer thread only appends them."""
    legs = list(legs)
    entries = [(journal_id, transfer_id, kind, state, account, currency, amount, at)
               for account, currency, amount in legs]
    if state == "posted":
        moves = [(account, currency, amount, 0) for account, currency, amount in legs]
    else:
        moves = [(account, currency, 0, amount) for account, currency, amount in legs]
    return entries, moves


class Batch:
    """The snapshot a batch's commands read, kept current as each command's changes join."""

    def __init__(self, conn: Connection, quote_cache: dict[str, Quote] | None = None) -> None:
        self.conn = conn
        self.quote_cache = quote_cache if quote_cache is not None else {}
        self._idem: dict[tuple[str, str], Stored | None] = {}
        self._quotes: dict[str, Quote | None] = {}
        self._used: dict[str, bool] = {}
        self._refs: dict[tuple[str, str], bool] = {}
        self._accounts: dict[str, list[int]] = {}
        self._daily: dict[tuple[str, str, str], int] = {}
        self._daily_stored: set[tuple[str, str, str]] = set()  # keys with a row in the store
        self._transfers: dict[str, TransferRow | None] = {}
        self.out = Changes()
        self.new_quotes: list[Quote] = []

    # -- loading -------------------------------------------------------------------------

    def load(self, needs: Needs) -> None:
        """Read everything the batch's commands named: one query per kind, each with the
        whole key list as a single parameter (`Connection.one_of`)."""
        c = self.conn
        q, pack = c.query, c.pack
        todo = [k for k in needs.idempotency if k not in self._idem]
        for k in todo:
            self._idem[k] = None
        for (partner,), keys in _grouped(todo, 1).items():
            for k, h, s, r in q(
                "SELECT key, body_hash, status, response FROM idempotency WHERE "
                f"{c.one_of('key')} AND partner_id = ?", (pack(keys), partner)
            ):
                self._idem[(partner, k)] = Stored(h, s, r)
        missing = [i for i in needs.quotes if i not in self.quote_cache]
        if missing:
            for row in q(f"SELECT {', '.join(QUOTE_COLUMNS)} FROM quotes WHERE "
                         f"{c.one_of('id')}", (pack(missing),)):
                quote = row_quote(row)
                self.quote_cache[quote.id] = quote
        todo_used = [i for i in needs.quotes if i not in self._used]
        for i in todo_used:
            self._used[i] = False
        if todo_used:
            for (i,) in q(f"SELECT quote_id FROM transfers WHERE {c.one_of('quote_id')}",
                          (pack(todo_used),)):
                self._used[i] = True
        todo = [k for k in needs.references if k not in self._refs]
        for k in todo:
            self._refs[k] = False
        for (partner,), refs in _grouped(todo, 1).items():
            for (r,) in q(
                f"SELECT reference FROM transfers WHERE {c.one_of('reference')} "
                "AND partner_id = ?", (pack(refs), partner)
            ):
                self._refs[(partner, r)] = True
        self._load_accounts(needs.accounts)
        todo3 = [k for k in needs.daily if k not in self._daily]
        for k3 in todo3:
            self._daily[k3] = 0
        for (partner, day), senders in _grouped([(p, d, s) for p, s, d in todo3], 2).items():
            for s_key, total in q(
                f"SELECT sender_key, total FROM sender_daily WHERE {c.one_of('sender_key')} "
                "AND day = ? AND partner_id = ?", (pack(senders), day, partner)
            ):
                self._daily[(partner, s_key, day)] = int(total)
                self._daily_stored.add((partner, s_key, day))
        self._load_transfers(needs.transfers)

    def _load_accounts(self, accounts: Iterable[str]) -> None:
        todo = sorted(a for a in accounts if a not in self._accounts)
        if not todo:
            return
        for a in todo:
            self._accounts[a] = [0, 0]
        c = self.conn
        # Locked in account order, so that two writers never wait on each other in a cycle.
        for a, posted, pending in c.query(
            f"SELECT account, posted, pending FROM accounts WHERE {c.one_of('account')} "
            f"ORDER BY account{c.for_update}", (c.pack(todo),)
        ):
            self._accounts[a] = [int(posted), int(pending)]

    def _load_transfers(self, ids: Iterable[str]) -> None:
        todo = sorted(i for i in ids if i not in self._transfers)
        if not todo:
            return
        for i in todo:
            self._transfers[i] = None
        c = self.conn
        for row in c.query(f"{TRANSFER_SELECT} WHERE {c.one_of('id')} ORDER BY id{c.for_update}",
                           (c.pack(todo),)):
            self._transfers[row[0]] = TransferRow(*row)
    # -- what commands read ----------------------------------------------------------------

    def stored(self, partner_id: str, key: str) -> Stored | None:
        if (partner_id, key) not in self._idem:
            self.load(Needs(idempotency={(partner_id, key)}))
        return self._idem[(partner_id, key)]

    def quote(self, quote_id: str) -> Quote | None:
        if quote_id not in self.quote_cache and quote_id not in self._quotes:
            self.load(Needs(quotes={quote_id}))
            self._quotes[quote_id] = self.quote_cache.get(quote_id)
        return self.quote_cache.get(quote_id) or self._quotes.get(quote_id)

    def quote_used(self, quote_id: str) -> bool:
        if quote_id not in self._used:
            self.load(Needs(quotes={quote_id}))
        return self._used[quote_id]

    def reference_taken(self, partner_id: str, reference: str) -> bool:
        if (partner_id, reference) not in self._refs:
            self.load(Needs(references={(partner_id, reference)}))
        return self._refs[(partner_id, reference)]

    def balance(self, account: str) -> tuple[int, int]:
        """(posted, pending) of an account, including this batch's changes so far."""
        if account not in self._accounts:
            self._load_accounts([account])
        posted, pending = self._accounts[account]
        return posted, pending

    def day_total(self, partner_id: str, sender_key: str, day: str) -> int:
        key = (partner_id, sender_key, day)
        if key not in self._daily:
            self.load(Needs(daily={key}))
        return self._daily[key]

    def transfer(self, transfer_id: str) -> TransferRow | None:
        if transfer_id not in self._transfers:
            self._load_transfers([transfer_id])
        return self._transfers[transfer_id]

    def funded(self, partner_id: str, reference: str) -> bool:
        return bool(self.conn.query(
            "SELECT 1 FROM fundings WHERE partner_id = ? AND reference = ?",
            (partner_id, reference),
        )) or any(f[0] == partner_id and f[1] == reference for f in self.out.fundings)

    def paid_out(self, transfer_id: str) -> bool:
        return bool(self.conn.query(
            "SELECT 1 FROM payouts WHERE transfer_id = ?", (transfer_id,)
        )) or any(p[0] == transfer_id for p in self.out.payouts)

    def due_outbox(self, kind: str, now: str, limit: int) -> list[OutboxRow]:
        """Open outbox messages of `kind` that are due; rows other workers hold are
        skipped on PostgreSQL. The caller leases them by moving `due_at` on."""
        rows = self.conn.query(
            f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox WHERE kind = ? "
            f"AND state IN ('pending', 'sent') AND due_at <= ? ORDER BY id LIMIT ?"
            f"{self.conn.skip_locked}", (kind, now, limit)
        )
        return [OutboxRow(*r) for r in rows]

    def outbox_message(self, outbox_id: int) -> OutboxRow | None:
        rows = self.conn.query(f"SELECT {', '.join(OUTBOX_COLUMNS)} FROM outbox WHERE id = ?"
                               f"{self.conn.for_update}", (outbox_id,))
        return OutboxRow(*rows[0]) if rows else None

    def flagged(self, transfer_id: str, kind: str) -> bool:
        """Whether this contradiction is already recorded (in the store or this batch)."""
        return bool(self.conn.query(
            "SELECT 1 FROM reconciliation WHERE transfer_id = ? AND kind = ?",
            (transfer_id, kind),
        )) or any(f[0] == transfer_id and f[1] == kind for f in self.out.flags)

    def open_flags(self, transfer_id: str) -> list[tuple[int, str]]:
        """(id, kind) of the transfer's contradictions no one has resolved yet."""
        return [(int(i), k) for i, k in self.conn.query(
            "SELECT id, kind FROM reconciliation WHERE transfer_id = ? AND resolved_at IS NULL"
            f" ORDER BY id{self.conn.for_update}", (transfer_id,))]

    def forget_idempotency(self, before: str) -> int:
        """Drop idempotency keys older than `before` (kept at least 24 h by the caller)."""
        return self.conn.execute("DELETE FROM idempotency WHERE created_at < ?", (before,))

    # -- joining a command's changes -------------------------------------------------------

    def merge(self, ch: Changes) -> None:
        out = self.out
        for quote in ch.quotes:
            self._quotes[quote.id] = quote
            self.new_quotes.append(quote)
        out.quotes += ch.quotes
        for row in ch.transfers:
            self._transfers[row.id] = row
            self._used[row.quote_id] = True
            self._refs[(row.partner_id, row.reference)] = True
        out.transfers += ch.transfers
        for tid, status, code, reason, at in ch.updates:
            row = self._transfers.get(tid)
            if row is not None:
                row.status, row.code, row.reason, row.updated_at = status, code, reason, at
        out.updates += ch.updates
        out.events += ch.events
        out.entries += ch.entries
        for account, _, posted, pending in ch.balances:
            if account not in self._accounts:
                self._load_accounts([account])
            bal = self._accounts[account]
            bal[0] += posted
            bal[1] += pending
        out.balances += ch.balances
        for p, s, d, amount in ch.daily:
            self._daily[(p, s, d)] = self.day_total(p, s, d) + amount
        out.daily += ch.daily
        for p, k, h, status, response, _ in ch.idempotency:
            self._idem[(p, k)] = Stored(h, status, response)
        out.idempotency += ch.idempotency
        out.outbox += ch.outbox
        out.outbox_updates += ch.outbox_updates
        out.outbox_closes += ch.outbox_closes
        out.outbox_retries += ch.outbox_retries
        out.reschedules += ch.reschedules
        out.flags += ch.flags
        out.resolutions += ch.resolutions
        out.payouts += ch.payouts
        out.fundings += ch.fundings
        out.decisions += ch.decisions

    # -- writing -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the batch: one bulk statement per table, in dependency order."""
        c, out = self.conn, self.out
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
        stored = self._daily_stored
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


def _grouped(keys: Iterable[tuple[str, ...]], prefix: int) -> dict[tuple[str, ...], list[str]]:
    """Group keys by their first `prefix` parts, so that each group is one indexed
    `... = ? AND last IN (...)` query."""
    out: dict[tuple[str, ...], list[str]] = {}
    for k in keys:
        out.setdefault(k[:prefix], []).append(k[prefix])
    return out
