"""The security audit log: one JSON line per refused caller, at DATA/eig/security-audit.jsonl.

Each line holds the time, source IP, certificate subject and fingerprint (when the client
sent one), the partner claimed (identity refusals) or the authenticated partner and the
transfer id (a partner call refused afterwards, by EIG, TXN or RPT), the reason, and never a
secret: API keys, callback signatures and bodies are not logged, not even in part.
Several EIG processes may append to the same file: each line is written with a single
`write` on an O_APPEND descriptor, which the kernel keeps whole.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import msgspec

from corridor.core.times import rfc3339


class SecurityAuditLog:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def refusal(
        self,
        *,
        source_ip: str | None,
        reason: str,
        subject: str | None = None,
        fingerprint: str | None = None,
        partner_claimed: str | None = None,
        partner: str | None = None,
        transfer_id: str | None = None,
        detail: str | None = None,
        request: str | None = None,
    ) -> None:
        entry = {
            "time": rfc3339(dt.datetime.now(dt.UTC)),
            "source_ip": source_ip,
            "subject": subject,
            "fingerprint": fingerprint,
            "partner_claimed": partner_claimed,
            "partner": partner,
            "transfer_id": transfer_id,
            "reason": reason,
            "request": request,
            "detail": detail,
        }
        os.write(self._fd, msgspec.json.encode(entry) + b"\n")

    def close(self) -> None:
        os.close(self._fd)
