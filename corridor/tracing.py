"""OpenTelemetry for the servers: a tracer that writes each finished span as one JSON line to
DATA/<server>/spans.jsonl (so tracing works on the embedded default with no collector) and,
when `CORRIDOR_OTLP_ENDPOINT` is set, sends it over OTLP/HTTP too; W3C `traceparent` read
from and written to HTTP headers.

The tracer is handed to what uses it rather than installed as OpenTelemetry's global one: a
process may run several servers (the tests, the embedded stack), each with its own file.
With `CORRIDOR_TRACING=0` the tracer is OpenTelemetry's no-op one, which costs a call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from corridor.settings import Settings

_W3C = TraceContextTextMapPropagator()
_encode = msgspec.json.Encoder().encode
SERVERS_TRACED = ("eig", "txn")  # the servers that write spans (each its own file)


def spans_path(data_dir: Path, server: str) -> Path:
    return data_dir / server / "spans.jsonl"


class _AppendLines:
    """The file ConsoleSpanExporter writes to: each span's line goes out in a single `write`
    on an O_APPEND descriptor, which the kernel keeps whole when several processes of one
    server append to the same file (a buffered file object could split a long line)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, text: str) -> int:
        return os.write(self._fd, text.encode())

    def flush(self) -> None:
        pass

    def close(self) -> None:
        os.close(self._fd)


def _line(span: ReadableSpan) -> str:
    """The span as one JSON line, with the names and forms of the SDK's `to_json` (which
    builds the same document with the standard library's json, several times slower)."""
    ctx, parent = span.context, span.parent
    return _encode({
        "name": span.name,
        "context": {"trace_id": f"0x{ctx.trace_id:032x}", "span_id": f"0x{ctx.span_id:016x}"},
        "kind": str(span.kind),
        "parent_id": None if parent is None else f"0x{parent.span_id:016x}",
        "start_time": _iso(span.start_time), "end_time": _iso(span.end_time),
        "status": {"status_code": span.status.status_code.name},
        "attributes": dict(span.attributes or {}),
        "resource": {"attributes": dict(span.resource.attributes)},
    }).decode() + "\n"


def _iso(nanoseconds: int | None) -> str | None:
    if nanoseconds is None:
        return None
    moment = datetime.fromtimestamp(nanoseconds / 1e9, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Tracing:
    """One server's tracer; `close` exports what is still queued."""

    def __init__(self, settings: Settings, data_dir: Path, server: str) -> None:
        self._provider: TracerProvider | None = None
        self._file: _AppendLines | None = None
        if not settings.tracing:
            self.tracer: trace.Tracer = trace.NoOpTracer()
            return
        provider = TracerProvider(resource=Resource.create({"service.name": f"corridor-{server}"}))
        self._file = _AppendLines(spans_path(data_dir, server))
        provider.add_span_processor(BatchSpanProcessor(
            ConsoleSpanExporter(out=self._file, formatter=_line)))  # type: ignore[arg-type]
        if settings.otlp_endpoint:
            # Imported only when used: it brings protobuf and requests along.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(
                OTLPSpanExporter(endpoint=settings.otlp_endpoint)))
        self._provider = provider
        self.tracer = provider.get_tracer("corridor")

    def close(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
        if self._file is not None:
            self._file.close()


def extract(headers: Mapping[str, str]) -> Context:
    """The caller's trace context from its `traceparent` header (an empty one without)."""
    return _W3C.extract(headers)


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current span's `traceparent` to outgoing headers (nothing outside a span)."""
    _W3C.inject(headers)
