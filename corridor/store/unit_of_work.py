"""One group-commit transaction: what its commands read, and what they write.

A group runs many commands in one transaction. First every command names what it will
read (`Needs`), and the group loads it with one query per kind (accounts `FOR UPDATE` on
PostgreSQL). Then the commands run one after another against that snapshot; each writes
into its own `Changes`, which joins the group only if the command succeeds, so a refused
command leaves no trace. Finally `flush` writes everything with one bulk statement per
table. Money state is always read from the store here, never kept in memory between
groups, so CLI writers can work beside a running server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from corridor.core.pricing import Quote
from corridor.store.adapter import Connection
from corridor.store.changes import Changes
from corridor.store.flush import flush_changes
from corridor.store.rows import (
    OUTBOX_COLUMNS,
    QUOTE_COLUMNS,
    TRANSFER_SELECT,
    OutboxRow,
    RecallRow,
    ReturnRow,
    Stored,
    TransferRow,
    row_quote,
)


@dataclass
class Needs:
    """Keys the commands of a group will read, loaded in bulk before they run."""

    idempotency: set[tuple[str, str]] = field(default_factory=set)
    quotes: set[str] = field(default_factory=set)
    references: set[tuple[str, str]] = field(default_factory=set)
    accounts: set[str] = field(default_factory=set)
    daily: set[tuple[str, str, str]] = field(default_factory=set)
    transfers: set[str] = field(default_factory=set)


class UnitOfWork:
    """The snapshot a group's commands read, kept current as each command's changes join."""

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
        """Read everything the group's commands named: one query per kind, each with the
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
        """(posted, pending) of an account, including this group's changes so far."""
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
        )) or any(f.partner_id == partner_id and f.reference == reference
                  for f in self.out.fundings)

    def paid_out(self, transfer_id: str) -> bool:
        return bool(self.conn.query(
            "SELECT 1 FROM payouts WHERE transfer_id = ?", (transfer_id,)
        )) or any(p.transfer_id == transfer_id for p in self.out.payouts)

    def return_of(self, transfer_id: str) -> ReturnRow | None:
        """The transfer's booked return (in the store or this batch), or None."""
        for r in self.out.returns:
            if r.transfer_id == transfer_id:
                return r
        rows = self.conn.query(
            f"SELECT {', '.join(ReturnRow.__struct_fields__)} FROM returns "
            "WHERE transfer_id = ?", (transfer_id,))
        return ReturnRow(*rows[0]) if rows else None

    def recall_of(self, transfer_id: str) -> RecallRow | None:
        """The transfer's recall as this batch leaves it, or None."""
        found: RecallRow | None = None
        for r in self.out.recalls:
            if r.transfer_id == transfer_id:
                found = r
        if found is None:
            rows = self.conn.query(
                f"SELECT {', '.join(RecallRow.__struct_fields__)} FROM recalls "
                f"WHERE transfer_id = ?{self.conn.for_update}", (transfer_id,))
            found = RecallRow(*rows[0]) if rows else None
        if found is None:
            return None
        for u in self.out.recall_updates:
            if u.transfer_id == transfer_id:
                found = msgspec.structs.replace(
                    found, status=u.status, answered_at=u.answered_at or found.answered_at,
                    answer=u.answer or found.answer)
        return found

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
        """Whether this contradiction is already recorded (in the store or this group)."""
        return bool(self.conn.query(
            "SELECT 1 FROM reconciliation WHERE transfer_id = ? AND kind = ?",
            (transfer_id, kind),
        )) or any(f.transfer_id == transfer_id and f.kind == kind for f in self.out.flags)

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
        for u in ch.updates:
            current = self._transfers.get(u.transfer_id)
            if current is not None:
                current.status, current.code, current.reason, current.updated_at = (
                    u.status, u.code, u.reason, u.at)
        out.updates += ch.updates
        out.events += ch.events
        out.entries += ch.entries
        for m in ch.balances:
            if m.account not in self._accounts:
                self._load_accounts([m.account])
            bal = self._accounts[m.account]
            bal[0] += m.posted
            bal[1] += m.pending
        out.balances += ch.balances
        for d in ch.daily:
            key = (d.partner_id, d.sender_key, d.day)
            self._daily[key] = self.day_total(*key) + d.amount
        out.daily += ch.daily
        for r in ch.idempotency:
            self._idem[(r.partner_id, r.key)] = Stored(r.body_hash, r.status, r.response)
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
        out.returns += ch.returns
        out.recalls += ch.recalls
        out.recall_updates += ch.recall_updates

    # -- writing -------------------------------------------------------------------------

    def flush(self) -> None:
        """Write the group: one bulk statement per table, in dependency order."""
        flush_changes(self.conn, self.out, self._daily_stored)


def _grouped(keys: Iterable[tuple[str, ...]], prefix: int) -> dict[tuple[str, ...], list[str]]:
    """Group keys by their first `prefix` parts, so that each group is one indexed
    `... = ? AND last IN (...)` query."""
    out: dict[tuple[str, ...], list[str]] = {}
    for k in keys:
        out.setdefault(k[:prefix], []).append(k[prefix])
    return out
