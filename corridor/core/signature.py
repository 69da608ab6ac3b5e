"""The callback signature scheme, used in both directions (docs/design.md, Partner API):

    Corridor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">

The timestamp inside the MAC stops replays beyond the tolerance window.
"""

from __future__ import annotations

import hashlib
import hmac

from corridor.core.errors import Unauthenticated

HEADER = "Corridor-Signature"
TOLERANCE_S = 300


def sign(secret: bytes, body: bytes, t: int) -> str:
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: bytes, header: str | None, body: bytes, now: int,
           tolerance: int = TOLERANCE_S) -> None:
    """Raise `Unauthenticated` (code `bad_signature`) unless `header` signs `body` recently."""
    if not header:
        raise Unauthenticated(f"missing {HEADER} header", code="bad_signature")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError):
        raise Unauthenticated(f"{HEADER} has no valid t=", code="bad_signature") from None
    if abs(now - t) > tolerance:
        raise Unauthenticated(f"{HEADER} is stale (t={t})", code="bad_signature")
    expected = sign(secret, body, t).partition(",v1=")[2]
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise Unauthenticated(f"{HEADER} does not match the body", code="bad_signature")
