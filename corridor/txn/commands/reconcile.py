"""Reconciliation: a person closes the contradictions a receive partner reported
(flagged by `payouts.FinishPayout`, never settled by the hub)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from corridor.core.errors import NotFound
from corridor.core.times import rfc3339
from corridor.store import Changes, Needs, UnitOfWork


@dataclass(slots=True)
class ResolveFlag:
    """A person closes a transfer's flagged contradictions (of `kind`, or all), saying what
    they did: the flags leave `corridor reconcile` and keep the note."""

    transfer_id: str
    kind: str | None
    by: str
    note: str
    now: datetime

    def needs(self, n: Needs) -> None:
        pass

    def apply(self, b: UnitOfWork, ch: Changes) -> list[str]:
        flags = [(i, k) for i, k in b.open_flags(self.transfer_id)
                 if self.kind is None or k == self.kind]
        if not flags:
            what = f" of kind {self.kind}" if self.kind else ""
            raise NotFound(f"transfer {self.transfer_id} has no open flag{what}",
                           code="no_open_flag")
        at = rfc3339(self.now)
        for flag_id, _ in flags:
            ch.resolve(flag_id, self.by, self.note, at)
        return [k for _, k in flags]
