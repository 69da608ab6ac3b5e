import pytest

from corridor.core import signature
from corridor.core.errors import Conflict, Unauthenticated
from corridor.core.ledger import funding_legs, imbalance, reversal
from corridor.core.money import Money
from corridor.core.states import FINAL, Status, can_transition, check_transition


def test_final_states_go_nowhere_but_a_completed_payout_may_come_back() -> None:
    assert {Status.COMPLETED, Status.FAILED, Status.REJECTED, Status.CANCELLED,
            Status.RETURNED} == FINAL
    for final in FINAL:
        for target in Status:
            assert can_transition(final, target) == (
                (final, target) == (Status.COMPLETED, Status.RETURNED))


def test_cancel_only_before_submission() -> None:
    check_transition(Status.ACCEPTED, Status.CANCELLED)
    check_transition(Status.COMPLIANCE_HOLD, Status.CANCELLED)
    with pytest.raises(Conflict) as err:
        check_transition(Status.SUBMITTED, Status.CANCELLED)
    assert err.value.code == "invalid_state"


def test_unknown_resolves_either_way() -> None:
    assert can_transition(Status.SUBMITTED, Status.UNKNOWN)
    assert can_transition(Status.UNKNOWN, Status.COMPLETED)
    assert can_transition(Status.UNKNOWN, Status.FAILED)


def test_funding_balances_and_reversal_cancels() -> None:
    legs = funding_legs("payfast", Money(100_00, "INR"))
    assert imbalance(legs) == {}
    assert sum(leg.amount for leg in legs + reversal(legs)) == 0
    with pytest.raises(ValueError):
        funding_legs("payfast", Money(0, "INR"))


def test_signature_round_trip_and_refusals() -> None:
    body = b'{"transfer_id":"t1","status":"SUCCESS"}'
    header = signature.sign(b"secret", body, 1_000_000)
    signature.verify(b"secret", header, body, now=1_000_100)
    cases = [
        (b"other", header, body, 1_000_100),  # wrong secret
        (b"secret", header, body + b" ", 1_000_100),  # body changed
        (b"secret", header, body, 1_000_400),  # stale
        (b"secret", None, body, 1_000_000),  # missing
        (b"secret", "t=abc,v1=00", body, 1_000_000),  # malformed
    ]
    for secret, hdr, data, now in cases:
        with pytest.raises(Unauthenticated) as err:
            signature.verify(secret, hdr, data, now=now)
        assert err.value.code == "bad_signature"
