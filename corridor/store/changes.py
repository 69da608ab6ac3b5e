"""What one command of a group-commit batch writes (`Changes`), as rows for the store's
tables; it joins the batch only when the command succeeds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from corridor.core.ledger import Leg
from corridor.core.pricing import Quote
from corridor.store.rows import TransferRow


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

