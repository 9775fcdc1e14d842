"""An enqueue stores the W3C trace context of its PRODUCER span on the run, on every store and
every insert path (one run, a batch, COPY from 500 runs, the caller's connection)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from zapjobs import JobContext, Page, RunFilter, ZapJobs

from .tracing_support import hex_span_id, hex_trace_id, named, span_exporter, stored_ids


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return span_exporter()


def make_app(url: str) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("traced", queue="mail")
    async def traced(ctx: JobContext[dict[str, int]]) -> None:
        return None

    return zap


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = make_app(store_url)
    await app.open()
    try:
        yield app
    finally:
        await app.close()


async def test_an_enqueue_inside_a_span_stores_the_context_of_its_publish_span(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    with trace.get_tracer("app").start_as_current_span("request") as request:
        run_id = await zap.enqueue("traced", {"n": 1})
    run = await zap.get_run(run_id)
    trace_id, parent_id = stored_ids(run.trace_context)
    assert trace_id == hex_trace_id(request)
    [publish] = named(spans.get_finished_spans(), "traced publish")
    assert publish.kind is trace.SpanKind.PRODUCER
    assert (
        publish.parent is not None and publish.parent.span_id == request.get_span_context().span_id
    )
    assert parent_id == hex_span_id(publish)  # the worker's span will be its child
    assert dict(publish.attributes or {}) == {
        "messaging.system": "zapjobs",
        "messaging.destination.name": "mail",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.message.id": str(run_id),
        "zapjobs.job_type": "traced",
    }


async def test_a_stored_context_is_w3c_traceparent_and_tracestate(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("congo", "t61rcWkgMzE")]),
    )
    with trace.use_span(NonRecordingSpan(remote)):
        run_id = await zap.enqueue("traced", {"n": 1})
    stored = json.loads((await zap.get_run(run_id)).trace_context or "")
    assert set(stored) == {"traceparent", "tracestate"}
    assert stored["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c-")
    assert stored["traceparent"].endswith("-01")
    assert stored["tracestate"] == "congo=t61rcWkgMzE"


async def test_every_run_of_a_batch_stores_the_batch_publish_context(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    """600 runs: PostgreSQL streams them with COPY."""
    with trace.get_tracer("app").start_as_current_span("request") as request:
        small = await zap.enqueue_many("traced", [{"n": i} for i in range(3)])
        big = await zap.enqueue_many("traced", [{"n": i} for i in range(600)])
    publishes = named(spans.get_finished_spans(), "traced publish")
    assert [p.attributes["messaging.batch.message_count"] for p in publishes if p.attributes] == [
        3,
        600,
    ]
    for ids, publish in ((small, publishes[0]), (big, publishes[1])):
        runs = await zap.list_runs(RunFilter(ids=tuple(ids)), Page(limit=len(ids)))
        assert len(runs) == len(ids)
        assert {stored_ids(r.trace_context) for r in runs} == {
            (hex_trace_id(request), hex_span_id(publish))
        }


async def test_an_enqueue_without_a_current_span_starts_a_trace(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    run_id = await zap.enqueue("traced", {"n": 1})
    [publish] = named(spans.get_finished_spans(), "traced publish")
    assert publish.parent is None
    trace_id, parent_id = stored_ids((await zap.get_run(run_id)).trace_context)
    assert (trace_id, parent_id) == (hex_trace_id(publish), hex_span_id(publish))


async def test_an_enqueue_on_the_callers_postgres_connection_stores_the_context(
    pg_url: str, spans: InMemorySpanExporter
) -> None:
    app = make_app(pg_url)
    await app.open()
    try:
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            with trace.get_tracer("app").start_as_current_span("request") as request:
                one = await app.enqueue("traced", {"n": 1}, connection=conn)
                many = await app.enqueue_many("traced", [{"n": 2}] * 600, connection=conn)
            await conn.commit()
        runs = await app.list_runs(RunFilter(ids=(one, *many)), Page(limit=601))
        assert len(runs) == 601
        assert {stored_ids(r.trace_context)[0] for r in runs} == {hex_trace_id(request)}
    finally:
        await app.close()


def test_a_sync_enqueue_inside_a_span_continues_its_trace(
    store_url: str, spans: InMemorySpanExporter
) -> None:
    """enqueue_sync runs on zapjobs' own loop in another thread: the caller's span goes along."""
    zap = make_app(store_url)
    try:
        with trace.get_tracer("app").start_as_current_span("request") as request:
            run_id = zap.enqueue_sync("traced", {"n": 1})
        run = zap.get_run_sync(run_id)
    finally:
        zap.close_sync()
    [publish] = named(spans.get_finished_spans(), "traced publish")
    assert (
        publish.parent is not None and publish.parent.span_id == request.get_span_context().span_id
    )
    assert stored_ids(run.trace_context) == (hex_trace_id(request), hex_span_id(publish))
