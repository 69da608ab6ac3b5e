"""Tracing: spans land in DATA/<server>/spans.jsonl by default, carry the trace of the
caller's `traceparent`, and pass it on; `CORRIDOR_TRACING=0` writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

from corridor.settings import Settings
from corridor.tracing import Tracing, extract, inject, spans_path

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE}-00f067aa0ba902b7-01"


def test_a_span_continues_the_callers_trace_and_passes_it_on(tmp_path: Path) -> None:
    tracing = Tracing(Settings(tracing=True), tmp_path, "eig")
    outgoing: dict[str, str] = {}
    with tracing.tracer.start_as_current_span(
            "eig.request", context=extract({"traceparent": PARENT}),
            attributes={"corridor.transfer_id": "T1"}):
        inject(outgoing)
    tracing.close()
    assert outgoing["traceparent"].startswith(f"00-{TRACE}-")
    [span] = [json.loads(line) for line in spans_path(tmp_path, "eig").read_text().splitlines()]
    assert span["name"] == "eig.request"
    assert span["context"]["trace_id"] == f"0x{TRACE}"
    assert span["parent_id"] == "0x00f067aa0ba902b7"
    assert span["attributes"]["corridor.transfer_id"] == "T1"
    assert span["resource"]["attributes"]["service.name"] == "corridor-eig"


def test_tracing_off_writes_no_spans_and_sends_no_traceparent(tmp_path: Path) -> None:
    tracing = Tracing(Settings(tracing=False), tmp_path, "txn")
    outgoing: dict[str, str] = {}
    with tracing.tracer.start_as_current_span("txn.transfer"):
        inject(outgoing)
    tracing.close()
    assert outgoing == {} and not spans_path(tmp_path, "txn").exists()
