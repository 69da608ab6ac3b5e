"""OpenTelemetry for the servers: a tracer that writes each finished span as one JSON line to
DATA/<server>/spans.jsonl (so tracing works on the embedded default with no collector) and,
when `CORRIDOR_OTLP_ENDPOINT` is set, sends it over OTLP/HTTP too; W3C `traceparent` read
from and written to HTTP headers on every hop (`Hop`).

What it costs, and why the decision is taken here rather than by an SDK sampler: the SDK
spends about 30 us of CPU on a recorded span and still about 15 us on one its sampler
drops (ids, attributes, context), which the benches see. So a hop first looks at the
`traceparent` it was handed: a sampled one (flag 01) is recorded, as the partner asked;
an unsampled one is passed on as it came, with no span (EIG makes a partner's sampled one
unsampled past `CORRIDOR_TRACE_FOLLOW` a second); without one, a share
`CORRIDOR_TRACE_SAMPLE` of the calls start a recorded trace and the rest pass nothing on.
Every later hop (TXN behind EIG, the payout, the receiver's callback, the sender callback)
follows that first decision through the header, so a trace is whole or absent, and an
unrecorded call costs a header look-up and a pattern match. A malformed `traceparent` is
dropped, as W3C asks, and never passed on.

The tracer is handed to what uses it rather than installed as OpenTelemetry's global one: a
process may run several servers (the tests, the embedded stack), each with its own file.
With `CORRIDOR_TRACING=0` nothing is recorded, and a partner's `traceparent` still goes on.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Mapping, MutableMapping
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from corridor.settings import Settings

_W3C = TraceContextTextMapPropagator()
# A W3C traceparent of version 00: trace id and parent id neither all zeros.
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
_encode = msgspec.json.Encoder().encode
SERVERS_TRACED = ("eig", "txn")  # the servers that write spans (each its own file)
# The hop the running task is in: what it passes on is stored with the outbox messages
# written in its commit, so the payout and the sender callback stay in its trace.
_CURRENT: ContextVar[Hop | None] = ContextVar("corridor_hop", default=None)


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
    """One server's tracer; `hop` opens a traced step; `close` exports what is queued."""

    def __init__(self, settings: Settings, data_dir: Path, server: str) -> None:
        self._provider: TracerProvider | None = None
        self._file: _AppendLines | None = None
        self.sample = settings.trace_sample
        self._random = random.random
        if not settings.tracing:
            self.tracer: trace.Tracer = trace.NoOpTracer()
            self.on = False
            return
        self.on = True
        provider = TracerProvider(resource=Resource.create({"service.name": f"corridor-{server}"}),
                                  sampler=ALWAYS_ON)  # the decision is `hop`'s
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

    def hop(self, name: str, traceparent: str | None, attributes: Mapping[str, Any] | None = None,
            *, kind: SpanKind = SpanKind.SERVER, root: bool = True) -> Hop:
        """A step of a trace, given the `traceparent` it came with (None: none). Recorded when
        that header is sampled, or (`root`: the hop may start a trace) without one for a share
        `trace_sample` of the calls; otherwise no span, and the header goes on as it came."""
        if traceparent is not None and not _TRACEPARENT.fullmatch(traceparent):
            traceparent = None  # W3C: a malformed one is dropped, as if none came
        if not self.on:
            return Hop(None, traceparent)
        if traceparent is not None:
            if not sampled(traceparent):
                return Hop(None, traceparent)
            parent: Context | None = _W3C.extract({"traceparent": traceparent})
        elif root and self.sample and self._random() < self.sample:
            parent = None
        else:
            return Hop(None, None)
        span = self.tracer.start_span(name, context=parent, kind=kind, attributes=attributes)
        ctx = span.get_span_context()
        return Hop(span, f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-01", self)

    @classmethod
    def off(cls) -> Tracing:
        """A tracer that records nothing (and passes each `traceparent` on)."""
        return cls(Settings(tracing=False), Path(), "")

    def close(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()
        if self._file is not None:
            self._file.close()


def wants_recording(traceparent: str) -> bool:
    """Whether `traceparent` is a well-formed W3C header whose trace is sampled."""
    return _TRACEPARENT.fullmatch(traceparent) is not None and sampled(traceparent)


def unsampled(traceparent: str) -> str:
    """The same trace and parent, not to be recorded (the flags' low bit cleared)."""
    return f"{traceparent[:53]}{int(traceparent[53:55], 16) & 0xFE:02x}"


def sampled(traceparent: str) -> bool:
    """Whether a well-formed W3C traceparent asks for the trace to be recorded (its flags'
    low bit)."""
    return bool(int(traceparent[53:55], 16) & 1)


class Hop:
    """One step of a trace: its span when recorded (ended on leaving the `with`), and the
    `traceparent` to pass on to the next hop (its own span's, or the one it came with)."""

    __slots__ = ("_token", "_tracing", "span", "traceparent")

    def __init__(self, span: Span | None, traceparent: str | None,
                 tracing: Tracing | None = None) -> None:
        self.span = span
        self.traceparent = traceparent
        self._tracing = tracing
        self._token: Token[Hop | None] | None = None

    def child(self, name: str, attributes: Mapping[str, Any] | None = None) -> Hop:
        """A step inside this one (a call it makes): recorded when this one is."""
        if self.span is None or self._tracing is None:
            return Hop(None, self.traceparent)
        return self._tracing.hop(name, self.traceparent, attributes, kind=SpanKind.CLIENT,
                                 root=False)

    def __enter__(self) -> Hop:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 _tb: object) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
        if self.span is not None:
            if exc is not None:
                self.span.record_exception(exc)
                self.span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
            self.span.end()

    @property
    def recording(self) -> bool:
        return self.span is not None

    def set(self, key: str, value: str | int | float | bool) -> None:
        if self.span is not None:
            self.span.set_attribute(key, value)

    def headers(self, headers: MutableMapping[str, str]) -> None:
        """Add the `traceparent` to pass on to outgoing headers (none: nothing)."""
        if self.traceparent is not None:
            headers["traceparent"] = self.traceparent


def passed_on() -> str | None:
    """The `traceparent` the current hop passes on (None outside one, or when it has none):
    what a command stores with the outbox messages it writes."""
    hop = _CURRENT.get()
    return None if hop is None else hop.traceparent


def current() -> Hop | None:
    """The hop the running code is in, if any (to add what it learns to its span)."""
    return _CURRENT.get()
