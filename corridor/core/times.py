"""UTC times in RFC 3339, the only form times take on the wire and in events."""

from __future__ import annotations

from datetime import UTC, datetime

from corridor.core.errors import InvalidInput


def rfc3339(moment: datetime) -> str:
    """`2026-11-25T10:00:00.123Z`: UTC, millisecond precision."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time with an offset; naive times are refused, not guessed."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidInput(f"{text!r} is not an RFC 3339 time", code="invalid_time") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{text!r} has no UTC offset", code="invalid_time")
    return moment.astimezone(UTC)
