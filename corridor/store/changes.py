"""What one command of a group commit writes (`Changes`), as named rows for the
store's tables; it joins the group only when the command succeeds."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from corridor.core.ledger import Leg
from corridor.core.pricing import Quote
from corridor.store.rows import (
    BalanceMove,
    DecisionRow,
    EntryRow,
    EventRow,
    FlagRow,
    FundingRow,
    IdempotencyRow,
    NewMessage,
    PayoutRow,
    RecallRow,
    ReturnRow,
    TransferRow,
)


class DailyAdd(msgspec.Struct, gc=False):
    """An amount added to a sender's total of the day (summed when the group is written)."""

    partner_id: str
    sender_key: str
    day: str
    amount: int


class Journal(msgspec.Struct):
    """A journal's entry rows and the balance moves they make."""

    entries: list[EntryRow]
    moves: list[BalanceMove]


# Changes to rows the store holds already, each written by one UPDATE in `store.flush`.

class StatusUpdate(msgspec.Struct, gc=False):
    """A stored transfer moved to another state."""

    transfer_id: str
    status: str
    code: str | None
    reason: str | None
    at: str


class OutboxLease(msgspec.Struct, gc=False):
    """An outbox message claimed by a worker until `due_at`; the claim counts as an attempt."""

    outbox_id: int
    state: str
    attempts: int
    due_at: str
    last_error: str | None


class OutboxAttempt(msgspec.Struct, gc=False):
    """A delivery attempt's result: retry at `due_at`, `done`, or `dead` (parked)."""

    outbox_id: int
    state: str
    due_at: str
    last_error: str | None
    give_up_at: str | None


class OutboxReschedule(msgspec.Struct, gc=False):
    """A transfer's open messages of `kind` due again at `due_at`."""

    transfer_id: str
    kind: str
    due_at: str


class OutboxClose(msgspec.Struct, gc=False):
    """A transfer's open messages of `kind` done."""

    transfer_id: str
    kind: str


class Resolution(msgspec.Struct, gc=False):
    """A flagged contradiction closed: who did, what they did, when."""

    flag_id: int
    at: str
    by: str
    note: str


class RecallUpdate(msgspec.Struct, gc=False):
    """A recall's new status, with the receive partner's answer when it has one."""

    transfer_id: str
    status: str
    answered_at: str | None
    answer: str | None


class Changes:
    """What one command writes; joins its group only when the command succeeds.

    A plain slotted class rather than a dataclass of `default_factory` lists: the writer
    makes one per command, so its construction is on the hot path."""

    __slots__ = (
        "balances", "daily", "decisions", "entries", "events", "flags", "fundings",
        "idempotency", "outbox", "outbox_closes", "outbox_retries", "outbox_updates",
        "payouts", "quotes", "recall_updates", "recalls", "reschedules", "resolutions",
        "returns", "transfers", "updates",
    )

    def __init__(self) -> None:
        self.quotes: list[Quote] = []
        self.transfers: list[TransferRow] = []
        self.updates: list[StatusUpdate] = []
        self.events: list[EventRow] = []
        self.entries: list[EntryRow] = []
        self.balances: list[BalanceMove] = []
        self.daily: list[DailyAdd] = []
        self.idempotency: list[IdempotencyRow] = []
        self.outbox: list[NewMessage] = []
        self.outbox_updates: list[OutboxLease] = []
        self.outbox_closes: list[OutboxClose] = []
        self.outbox_retries: list[OutboxAttempt] = []
        self.reschedules: list[OutboxReschedule] = []
        self.flags: list[FlagRow] = []
        self.resolutions: list[Resolution] = []
        self.payouts: list[PayoutRow] = []
        self.fundings: list[FundingRow] = []
        self.decisions: list[DecisionRow] = []
        self.returns: list[ReturnRow] = []
        self.recalls: list[RecallRow] = []
        self.recall_updates: list[RecallUpdate] = []

    def transfer(self, row: TransferRow) -> None:
        self.transfers.append(row)

    def status(self, transfer_id: str, status: str, code: str | None, reason: str | None,
               at: str) -> None:
        self.updates.append(StatusUpdate(transfer_id, status, code, reason, at))

    def event(self, event_id: str, kind: str, transfer_id: str | None, at: str,
              data: str) -> None:
        self.events.append(EventRow(event_id, kind, transfer_id, at, data))

    def journal(self, journal_id: str, transfer_id: str | None, kind: str, state: str,
                legs: Iterable[Leg], at: str) -> None:
        """Write legs (all `pending` or all `posted`) and move the running balances."""
        self.post(journal_rows(journal_id, transfer_id, kind, state, legs, at))

    def post(self, journal: Journal) -> None:
        """Write a journal made beforehand by `journal_rows`."""
        self.entries += journal.entries
        self.balances += journal.moves

    def add_daily(self, partner_id: str, sender_key: str, day: str, amount: int) -> None:
        self.daily.append(DailyAdd(partner_id, sender_key, day, amount))

    def remember(self, partner_id: str, key: str, body_hash: str, status: int,
                 response: str, at: str) -> None:
        self.idempotency.append(IdempotencyRow(partner_id, key, body_hash, status, response, at))

    def send(self, kind: str, transfer_id: str | None, partner_id: str, payload: str,
             due_at: str, at: str) -> None:
        self.outbox.append(NewMessage(kind, transfer_id, partner_id, payload, due_at, at))

    def outbox_state(self, outbox_id: int, state: str, attempts: int, due_at: str,
                     error: str | None = None) -> None:
        self.outbox_updates.append(OutboxLease(outbox_id, state, attempts, due_at, error))

    def outbox_retry(self, outbox_id: int, state: str, due_at: str, error: str | None,
                     give_up_at: str | None) -> None:
        """A delivery attempt's result: retry at `due_at`, `done`, or `dead` (parked)."""
        self.outbox_retries.append(OutboxAttempt(outbox_id, state, due_at, error, give_up_at))

    def reschedule(self, transfer_id: str, kind: str, due_at: str) -> None:
        """Move a transfer's open messages of `kind` to `due_at` (the next status query)."""
        self.reschedules.append(OutboxReschedule(transfer_id, kind, due_at))

    def flag(self, transfer_id: str, kind: str, hub_status: str, partner_status: str,
             partner_reference: str | None, detail: str, action: str, at: str) -> None:
        """Record a contradiction a person must reconcile."""
        self.flags.append(FlagRow(transfer_id, kind, hub_status, partner_status,
                                  partner_reference, detail, action, at))

    def resolve(self, flag_id: int, by: str, note: str, at: str) -> None:
        """Close a flagged contradiction: who did, what they did, when."""
        self.resolutions.append(Resolution(flag_id, at, by, note))

    def close_outbox(self, transfer_id: str, kind: str) -> None:
        """Mark a transfer's open outbox messages of `kind` done."""
        self.outbox_closes.append(OutboxClose(transfer_id, kind))

    def payout(self, transfer_id: str, journal_id: str, at: str) -> None:
        self.payouts.append(PayoutRow(transfer_id, journal_id, at))

    def funding(self, partner_id: str, reference: str, currency: str, amount: int,
                journal_id: str, at: str) -> None:
        self.fundings.append(FundingRow(partner_id, reference, currency, amount, journal_id, at))

    def decision(self, transfer_id: str, decision: str, analyst: str, note: str | None,
                 at: str) -> None:
        self.decisions.append(DecisionRow(transfer_id, decision, analyst, note, at))


    def returned(self, row: ReturnRow) -> None:
        """A completed payout given back (its journal is written beside it)."""
        self.returns.append(row)

    def recall(self, row: RecallRow) -> None:
        self.recalls.append(row)

    def recall_status(self, transfer_id: str, status: str, answered_at: str | None = None,
                      answer: str | None = None) -> None:
        self.recall_updates.append(RecallUpdate(transfer_id, status, answered_at, answer))


def journal_rows(journal_id: str, transfer_id: str | None, kind: str, state: str,
                 legs: Iterable[Leg], at: str) -> Journal:
    """The entry rows of a journal and the balance moves they make. Pure, so a command
    can build them before it is queued and the writer thread only appends them."""
    legs = list(legs)
    entries = [EntryRow(journal_id, transfer_id, kind, state, account, currency, amount, at)
               for account, currency, amount in legs]
    if state == "posted":
        moves = [BalanceMove(account, currency, amount, 0) for account, currency, amount in legs]
    else:
        moves = [BalanceMove(account, currency, 0, amount) for account, currency, amount in legs]
    return Journal(entries, moves)
