"""One use per TOTP code (RFC 6238 section 5.2): the last time step accepted for each admin,
so that a code seen over someone's shoulder, or replayed by whoever captured it, is
refused even while it is still inside its window.

A step is accepted only when it is later than the admin's last accepted one, which also
refuses an older code of the window once a newer one has been used. The ledger is a small
JSON file (0600) under the data directory, rewritten on each login, so a restart of the
bastion does not reopen the window. Claims happen on the event loop with no await between
check and record, so two connections racing with the same code cannot both win.
"""

from __future__ import annotations

import json
from pathlib import Path

from corridor.jump.state import StateUnreadable, read_object
from corridor.pki.files import write_secret


class StepLedger:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._last: dict[str, int] = self._load(path)

    @staticmethod
    def _load(path: Path) -> dict[str, int]:
        # Starting empty would silently accept codes already used: an unreadable ledger
        # stops the bastion instead and lets the operator decide.
        raw = read_object(path, LedgerUnreadable, lambda v: isinstance(v, int))
        return {str(k): v for k, v in raw.items()}

    def last(self, admin: str) -> int | None:
        return self._last.get(admin)

    def claim(self, admin: str, step: int) -> bool:
        """Record `step` as used by `admin`; False (and nothing recorded) when it is not
        later than the step last accepted for them."""
        last = self._last.get(admin)
        if last is not None and step <= last:
            return False
        self._last[admin] = step
        write_secret(self._path, json.dumps(self._last, sort_keys=True).encode())
        return True


class LedgerUnreadable(StateUnreadable):
    """The ledger file exists but is not the JSON object the bastion writes."""

    what = "a TOTP step ledger"
