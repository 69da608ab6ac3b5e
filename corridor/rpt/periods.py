"""Periods that reports and settlement cover, and the refusals of bad ones.

Settlement uses business days: the business day labelled D runs from the cut-off time
(hub.yaml `settlement.cutoff`, UTC) on D-1 to the cut-off on D. With a 00:00 cut-off it is
the calendar day; with 18:00, a transfer completed at 19:00 on the 1st settles on the 2nd.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from corridor.core.errors import InvalidInput
from corridor.core.times import parse_time


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # inclusive, UTC
    end: datetime  # exclusive, UTC


def parse_date(text: str | None, field: str = "date") -> date:
    if not text:
        raise InvalidInput(f"{field} is required (YYYY-MM-DD)", code="invalid_date")
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} {text[:40]!r} is not a date (YYYY-MM-DD)", code="invalid_date"
        ) from None


def business_day(day: date, cutoff: time) -> Period:
    end = datetime.combine(day, cutoff, tzinfo=UTC)
    return Period(end - timedelta(days=1), end)


def business_day_of(moment: datetime, cutoff: time) -> date:
    """The business day a moment belongs to (at or after the cut-off: the next day)."""
    moment = moment.astimezone(UTC)
    day = moment.date()
    return day + timedelta(days=1) if moment.time() >= cutoff else day


def settlement_day(text: str | None, cutoff: time, now: datetime) -> Period:
    """The business day named by `text`, refused if it has not started yet."""
    period = business_day(parse_date(text), cutoff)
    if period.start > now:
        raise InvalidInput(f"business day {text} has not started yet", code="period_in_future")
    return period


def parse_bound(text: str, field: str) -> datetime:
    """A period bound: a date (its midnight, UTC) or an RFC 3339 time."""
    if len(text) == 10:
        return datetime.combine(parse_date(text, field), time(0), tzinfo=UTC)
    try:
        return parse_time(text)
    except InvalidInput:
        raise InvalidInput(
            f"{field} {text[:40]!r} is neither a date (YYYY-MM-DD) nor an RFC 3339 time",
            code="invalid_date",
        ) from None


def report_period(start: str | None, end: str | None, now: datetime) -> Period:
    """[from, to) for a transaction report. A date as `to` includes that whole day."""
    if not start or not end:
        raise InvalidInput("both from and to are required", code="invalid_date")
    lo = parse_bound(start, "from")
    hi = parse_bound(end, "to")
    if len(end) == 10:
        hi += timedelta(days=1)
    if hi <= lo:
        raise InvalidInput("the period ends before it starts", code="invalid_period")
    if lo > now:
        raise InvalidInput(f"the period starting {start} is in the future",
                           code="period_in_future")
    if hi - lo > timedelta(days=366):
        raise InvalidInput("a report covers at most 366 days", code="invalid_period")
    return Period(lo, hi)
