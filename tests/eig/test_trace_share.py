"""A partner that marks its calls sampled has the hub record them only up to its share
(`CORRIDOR_TRACE_FOLLOW` a second, per EIG process): past it, the call goes on with the
partner's trace id, unsampled, and neither EIG nor TXN records it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from corridor.tracing import spans_path
from tests.eig.conftest import QUOTE, Stack, start_gateway, stop_gateway
from tests.support import wait_for


def _traced(path: Path, ids: set[str]) -> dict[str, set[str]]:
    """The span names of each of `ids`' traces in a spans file."""
    found: dict[str, set[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            span = json.loads(line)
            trace_id = span["context"]["trace_id"].removeprefix("0x")
            if trace_id in ids:
                found.setdefault(trace_id, set()).add(span["name"])
    return found


def test_a_partners_sampled_calls_past_its_share_are_passed_on_unrecorded(
        stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRIDOR_TRACE_FOLLOW", "0.01")  # a burst of one, then one in 100 s
    gw = start_gateway(stack, tmp_path / "eig")
    ids = [os.urandom(16).hex() for _ in range(3)]
    marker = os.urandom(16).hex()
    try:
        for trace_id in ids:
            status, body, _ = gw.curl("POST", "/v1/quotes", body=QUOTE, headers={
                "Idempotency-Key": f"q-{trace_id}",
                "traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01"})
            assert status == 201, body  # past its share, the call itself is served
        # Another partner's share is its own: its sampled call is recorded.
        status, body, _ = gw.curl("POST", "/v1/quotes", body={**QUOTE, "send_currency": "AED"},
                                  partner="desertx", interface="127.0.0.4", headers={
                                      "Idempotency-Key": f"q-{marker}",
                                      "traceparent": f"00-{marker}-{os.urandom(8).hex()}-01"})
        assert status == 201, body
        # TXN exports spans in the order they end: once the marker's is out, any of the
        # three quotes' would be too.
        txn = spans_path(stack.data, "txn")
        wait_for(lambda: marker in _traced(txn, {marker}), 30, 0.2, what="TXN's marker span")
    finally:
        stop_gateway(gw)  # EIG exports what it holds as it stops
    everything = {*ids, marker}
    assert set(_traced(spans_path(gw.data, "eig"), everything)) == {ids[0], marker}
    assert set(_traced(spans_path(stack.data, "txn"), everything)) == {ids[0], marker}
