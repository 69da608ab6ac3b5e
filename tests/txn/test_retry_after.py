"""A partner's Retry-After, in either form RFC 9110 allows."""

from datetime import UTC, datetime

from corridor.txn.delivery import retry_after

NOW = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)


def test_seconds_and_http_dates() -> None:
    assert retry_after("120", NOW) == 120.0
    assert retry_after("Mon, 30 Nov 2026 08:01:30 GMT", NOW) == 90.0
    assert retry_after("Mon, 30 Nov 2026 07:00:00 GMT", NOW) == 0.0  # in the past
    assert retry_after(None, NOW) is None
    assert retry_after("soon", NOW) is None
    assert retry_after("-5", NOW) is None
