"""The receive-partner simulator answers a wrong method and a failure inside a handler
with problem+json and a stable code, never a text page or a trace."""

from __future__ import annotations

import pytest

from tests.sim.rig import Rig


def test_a_wrong_method_is_405_method_not_allowed(rig: Rig) -> None:
    got = rig.call("DELETE", "/v1/payouts")
    assert (got.status, got.content_type) == (405, "application/problem+json")
    assert got.body["code"] == "method_not_allowed"


def test_a_failing_handler_is_500_internal_error_without_a_trace(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(payout_id: str) -> None:
        raise RuntimeError("wallet file /secret/wallets.json is corrupt")

    monkeypatch.setattr(rig.sim.payouts, "get", broken)
    got = rig.call("GET", "/v1/payouts/P-1", sign=False)
    assert (got.status, got.content_type) == (500, "application/problem+json")
    assert got.body["code"] == "internal_error"
    assert "secret" not in str(got.body)
