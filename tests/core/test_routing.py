"""The routing rule and the circuit breaker, pure: which partner a payout goes to, when a
partner leaves rotation and when it comes back."""

from datetime import UTC, datetime, timedelta

from corridor.core.routing import CLOSED, OPEN, PROBING, Breaker, Route

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_priority_takes_the_first_available_partner() -> None:
    route = Route("IN-KE", "wallet", ("mobicash", "kenpay"))
    assert route.choose("t1", lambda p: True) == "mobicash"
    assert route.choose("t1", lambda p: p != "mobicash") == "kenpay"
    assert route.choose("t1", lambda p: False) is None
    assert route.choose("t1", lambda p: True, exclude=["mobicash"]) == "kenpay"


def test_weights_share_payouts_and_keep_each_transfer_where_it_was() -> None:
    route = Route("AE-KE", "wallet", ("mobicash", "kenpay", "idle"), (1, 1, 0))
    firsts = [route.choose(f"t{i}", lambda p: True) for i in range(1000)]
    assert 420 < firsts.count("mobicash") < 580
    assert "idle" not in firsts
    # Taking one partner out moves only its own payouts.
    without = [route.choose(f"t{i}", lambda p: p != "kenpay") for i in range(1000)]
    assert all(a == b for a, b in zip(firsts, without, strict=True) if a == "mobicash")


def test_the_breaker_opens_after_failures_in_a_row_and_closes_after_a_probe() -> None:
    b = Breaker("mobicash", failures=3, cooldown=10)
    assert not b.failure(T0, "refused") and not b.failure(T0, "refused")
    assert b.success(T0) is False and b.failed == 0  # a success resets the count
    b.failure(T0, "refused")
    b.failure(T0, "refused")
    assert b.failure(T0, "timed out") and b.state == OPEN and not b.available
    assert not b.probe_due(T0 + timedelta(seconds=9))
    assert b.probe_due(T0 + timedelta(seconds=10))
    b.probing(T0 + timedelta(seconds=10))
    assert b.state == PROBING and not b.available
    assert b.failure(T0 + timedelta(seconds=10), "probe failed") and b.state == OPEN
    assert b.probe_at == T0 + timedelta(seconds=20)
    b.probing(T0 + timedelta(seconds=20))
    assert b.success(T0 + timedelta(seconds=20)) and b.state == CLOSED and b.available
