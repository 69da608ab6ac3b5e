"""The transfer state machine: the one table of allowed transitions (docs/design.md,
Money and transfer conventions)."""

from __future__ import annotations

from enum import StrEnum

from corridor.core.errors import Conflict


class Status(StrEnum):
    RECEIVED = "RECEIVED"  # stored, not yet screened
    ACCEPTED = "ACCEPTED"  # screened, funds reserved
    SUBMITTED = "SUBMITTED"  # sent to the receive partner
    COMPLETED = "COMPLETED"  # the beneficiary was credited
    FAILED = "FAILED"  # the receive partner could not pay out; reservation released
    REJECTED = "REJECTED"  # refused by compliance, limits or funds
    COMPLIANCE_HOLD = "COMPLIANCE_HOLD"  # an analyst decides
    UNKNOWN = "UNKNOWN"  # the receive partner did not answer; the hub asks until it knows
    CANCELLED = "CANCELLED"  # cancelled before submission
    RETURNED = "RETURNED"  # paid out, then the receive partner gave the funds back


S = Status
TRANSITIONS: dict[Status, frozenset[Status]] = {
    S.RECEIVED: frozenset({S.ACCEPTED, S.REJECTED, S.COMPLIANCE_HOLD}),
    S.COMPLIANCE_HOLD: frozenset({S.ACCEPTED, S.REJECTED, S.CANCELLED}),
    S.ACCEPTED: frozenset({S.SUBMITTED, S.CANCELLED, S.FAILED}),
    S.SUBMITTED: frozenset({S.COMPLETED, S.FAILED, S.UNKNOWN}),
    S.UNKNOWN: frozenset({S.COMPLETED, S.FAILED}),
    # A completed payout may still come back: the one move after the fact.
    S.COMPLETED: frozenset({S.RETURNED}),
    S.FAILED: frozenset(),
    S.REJECTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.RETURNED: frozenset(),
}
# After the fact: a move out of a state whose payout outcome is already settled.
AFTER_THE_FACT = frozenset({S.RETURNED})
# States whose payout outcome is settled: nothing but a move after the fact leaves them.
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if nxt <= AFTER_THE_FACT)
CANCELLABLE = frozenset(s for s, nxt in TRANSITIONS.items() if S.CANCELLED in nxt)
# States in which the send partner's float holds a pending reservation for the transfer.
RESERVED = frozenset({S.ACCEPTED, S.SUBMITTED, S.UNKNOWN})


def can_transition(old: Status, new: Status) -> bool:
    return new in TRANSITIONS[old]


def check_transition(old: Status, new: Status) -> None:
    if new not in TRANSITIONS[old]:
        raise Conflict(
            f"a transfer in {old} cannot become {new}", code="invalid_state", state=str(old)
        )
