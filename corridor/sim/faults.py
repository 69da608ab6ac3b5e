"""The receive-partner simulator's fault knobs: what a misbehaving remote party does, set
by flags at start and switched at runtime through `PATCH /sim/faults`.

Rates are probabilities (0..1) drawn from the simulator's seeded random generator, so a run
with the same seed and the same requests makes the same choices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any


class FaultError(ValueError):
    """A fault setting that is not one of the knobs or not a valid value for it."""


@dataclass(slots=True)
class InjectedFaults:
    latency_ms: int = 0  # added before every answer on /v1
    failure_rate: float = 0.0  # share of payouts that end in FAILURE (nothing credited)
    error_rate: float = 0.0  # share of /v1 requests answered 500 before anything is done
    hang_after_credit: bool = False  # submit credits, then never answers (the hub times out)
    hang_seconds: float = 300.0  # how long a hung answer is held before the connection drops
    callbacks: bool = True  # send receiver callbacks at all
    callback_delay_ms: int = 0  # wait this long after crediting before the callback
    duplicate_callback: bool = False  # send every callback twice (distinct Idempotency-Keys)
    callback_first: bool = False  # deliver the callback before answering the submit
    success_after_failure: bool = False  # after a FAILURE callback, also send a SUCCESS one
    sync_outcome: bool = False  # answer SUCCESS/FAILURE in the submit reply, not PENDING
    # after the final callback, an older in-process status (ISO: a pacs.002 ACSP) arrives
    pending_after_final: bool = False
    return_after_ms: int = 0  # give every credited payout back this long after (0: never)
    refuse_recalls: bool = False  # answer every recall REFUSED instead of returning the funds

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes` (knob -> value) all or nothing; raise FaultError on any bad one."""
        known = {f.name: f for f in fields(self)}
        staged: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise FaultError(f"unknown fault {name!r} (knobs: {', '.join(known)})")
            staged[name] = _coerce(name, known[name].type, value)
        for name, value in staged.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(name: str, kind: object, value: Any) -> Any:
    if kind in (bool, "bool"):
        if not isinstance(value, bool):
            raise FaultError(f"{name} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{name} must be a number")
    if kind in (int, "int"):
        if value != int(value) or value < 0:
            raise FaultError(f"{name} must be a whole number >= 0")
        return int(value)
    if name.endswith("_rate") and not 0 <= value <= 1:
        raise FaultError(f"{name} must be between 0 and 1")
    if value < 0:
        raise FaultError(f"{name} must be >= 0")
    return float(value)
