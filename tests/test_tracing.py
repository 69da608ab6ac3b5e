"""Tracing: spans land in DATA/<server>/spans.jsonl by default and carry the trace of the
caller's `traceparent`; the decision to record is the first hop's: a sampled header is
followed, an unsampled one passed on untouched with no span, and without one a share
`CORRIDOR_TRACE_SAMPLE` of the calls start a trace; `CORRIDOR_TRACING=0` records nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corridor.settings import Settings
from corridor.tracing import Tracing, passed_on, spans_path

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLED = f"00-{TRACE}-00f067aa0ba902b7-01"
UNSAMPLED = f"00-{TRACE}-00f067aa0ba902b7-00"


def lines(data: Path, server: str) -> list[dict[str, Any]]:
    path = spans_path(data, server)
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_sampled_traceparent_is_followed_and_passed_on_with_the_hops_span(
        tmp_path: Path) -> None:
    tracing = Tracing(Settings(), tmp_path, "eig")
    with tracing.hop("eig quote", SAMPLED, {"corridor.transfer_id": "T1"}) as hop:
        assert passed_on() == hop.traceparent
        with hop.child("POST /v1/payouts") as step:
            step.set("http.response.status_code", 201)
    assert passed_on() is None
    tracing.close()
    assert hop.traceparent is not None and hop.traceparent.startswith(f"00-{TRACE}-")
    assert hop.traceparent.endswith("-01") and hop.traceparent != SAMPLED
    spans = {s["name"]: s for s in lines(tmp_path, "eig")}
    top, step_span = spans["eig quote"], spans["POST /v1/payouts"]
    assert top["context"]["trace_id"] == f"0x{TRACE}"
    assert top["parent_id"] == "0x00f067aa0ba902b7"
    assert top["attributes"]["corridor.transfer_id"] == "T1"
    assert top["resource"]["attributes"]["service.name"] == "corridor-eig"
    assert step_span["parent_id"] == top["context"]["span_id"]
    assert step_span["attributes"]["http.response.status_code"] == 201


def test_an_unsampled_traceparent_goes_on_as_it_came_and_nothing_is_recorded(
        tmp_path: Path) -> None:
    tracing = Tracing(Settings(trace_sample=1.0), tmp_path, "txn")
    with tracing.hop("txn payout", UNSAMPLED) as hop:
        assert not hop.recording
        outgoing: dict[str, str] = {}
        hop.child("POST /v1/payouts").headers(outgoing)
    tracing.close()
    assert outgoing == {"traceparent": UNSAMPLED}
    assert lines(tmp_path, "txn") == []


def test_without_a_traceparent_the_sample_decides_and_later_hops_start_nothing(
        tmp_path: Path) -> None:
    always = Tracing(Settings(trace_sample=1.0), tmp_path / "a", "eig")
    never = Tracing(Settings(trace_sample=0.0), tmp_path / "n", "eig")
    with always.hop("eig quote", None) as started, never.hop("eig quote", None) as skipped:
        pass
    # A hop that may not start a trace (TXN behind EIG, the pumps) follows the header only.
    with always.hop("txn payout", None, root=False) as follower:
        pass
    always.close()
    never.close()
    assert started.recording and started.traceparent is not None
    assert not skipped.recording and skipped.traceparent is None
    assert not follower.recording
    assert [s["parent_id"] for s in lines(tmp_path / "a", "eig")] == [None]
    assert lines(tmp_path / "n", "eig") == []


def test_tracing_off_records_nothing_and_still_passes_the_partners_header_on(
        tmp_path: Path) -> None:
    tracing = Tracing(Settings(tracing=False), tmp_path, "txn")
    with tracing.hop("txn transfer", SAMPLED) as hop, tracing.hop("txn quote", None) as bare:
        pass
    tracing.close()
    assert hop.traceparent == SAMPLED and bare.traceparent is None
    assert not spans_path(tmp_path, "txn").exists()


def test_with_an_otlp_endpoint_the_spans_also_reach_the_collector(tmp_path: Path) -> None:
    """A real OTLP/HTTP receiver (protobuf over HTTP, as a collector's): the span arrives
    there with its trace, and in the spans file too."""
    import http.server
    import threading

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from corridor.ports import free_port

    got: list[tuple[str, str | None, bytes]] = []

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server names it
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    port = free_port()
    server = http.server.HTTPServer(("127.0.0.1", port), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        tracing = Tracing(Settings(otlp_endpoint=f"http://127.0.0.1:{port}/v1/traces"),
                          tmp_path, "txn")
        with tracing.hop("txn payout", SAMPLED, {"corridor.transfer_id": "T9"}):
            pass
        tracing.close()  # exports what is queued
    finally:
        server.shutdown()
        server.server_close()
    [(path, ctype, body)] = got
    assert path == "/v1/traces" and ctype == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    [span] = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert span.name == "txn payout" and span.trace_id.hex() == TRACE
    assert [s["name"] for s in lines(tmp_path, "txn")] == ["txn payout"]


def test_a_malformed_traceparent_is_dropped_as_if_none_came(tmp_path: Path) -> None:
    tracing = Tracing(Settings(trace_sample=0.0), tmp_path, "eig")
    for bad in (f"00-{TRACE}-00f067aa0ba902b7-0x", f"00-{'0' * 32}-00f067aa0ba902b7-01",
                f"00-{TRACE}-00f067aa0ba902b7-01\r\nX-Injected: 1", "é" * 55,
                f"00-{TRACE.upper()}-00f067aa0ba902b7-01", SAMPLED + "-extra"):
        with tracing.hop("eig quote", bad) as hop:
            assert hop.traceparent is None and not hop.recording, bad
    tracing.close()
    assert lines(tmp_path, "eig") == []
