"""The OpenTelemetry SDK set up as an application would: one global TracerProvider (it can be set
only once per process) whose spans go to an in-memory exporter the tests read."""

from __future__ import annotations

import json
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_EXPORTER = InMemorySpanExporter()
_installed = False


def span_exporter() -> InMemorySpanExporter:
    """The exporter of this process's TracerProvider, emptied."""
    global _installed
    if not _installed:
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            provider = TracerProvider()
            trace.set_tracer_provider(provider)
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        _installed = True
    _EXPORTER.clear()
    return _EXPORTER


def hex_trace_id(span: trace.Span | ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return format(context.trace_id, "032x")


def hex_span_id(span: trace.Span | ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return format(context.span_id, "016x")


def stored_ids(trace_context: str | None) -> tuple[str, str]:
    """(trace id, parent span id) of a run's stored W3C traceparent."""
    assert trace_context is not None
    version, trace_id, span_id, _flags = json.loads(trace_context)["traceparent"].split("-")
    assert version == "00"
    return trace_id, span_id


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]
