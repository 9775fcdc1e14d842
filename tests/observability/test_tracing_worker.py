"""Each attempt of a run is a CONSUMER span, child of the enqueue's PRODUCER span, with the
messaging attributes; the job's log lines are its events and a failure records the exception."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from zapjobs import JobContext, RetryPolicy, RunStatus, ZapJobs

from .tracing_support import hex_trace_id, named, span_exporter

NO_WAIT = RetryPolicy(max_retries=1, initial_delay=timedelta(0), use_jitter=False)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return span_exporter()


@pytest.fixture
async def zap(store_url: str) -> AsyncIterator[ZapJobs]:
    app = ZapJobs(store_url, auto_migrate=True, polling_interval="50ms")
    snoozed: set[int] = set()

    @app.job("report", queue="mail")
    async def report(ctx: JobContext[dict[str, int]]) -> int:
        ctx.log.info("halfway", n=ctx.input["n"], where={"a": 1})
        with trace.get_tracer("job").start_as_current_span("inner"):
            pass
        return ctx.input["n"]

    @app.job("blocking")
    def blocking(ctx: JobContext[None]) -> None:  # a plain def job runs in a thread
        ctx.log.warning("in a thread")
        with trace.get_tracer("job").start_as_current_span("inner-thread"):
            pass

    @app.job("sleepy", max_retries=0)
    async def sleepy(ctx: JobContext[None]) -> None:
        if ctx.run_id not in snoozed:
            snoozed.add(ctx.run_id)
            ctx.snooze(timedelta(0))

    @app.job("flaky", retry=NO_WAIT)
    async def flaky(ctx: JobContext[None]) -> None:
        raise ValueError(f"boom on attempt {ctx.attempt}")

    await app.open()
    try:
        yield app
    finally:
        await app.close()


def _parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_an_attempt_is_a_consumer_span_child_of_the_publish_span(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    with trace.get_tracer("app").start_as_current_span("request") as request:
        run_id = await zap.enqueue("report", {"n": 7})
    await zap.run_worker(burst=True, queues=["mail", "default"], install_signal_handlers=False)
    assert (await zap.get_run(run_id)).status is RunStatus.SUCCEEDED

    finished = spans.get_finished_spans()
    [publish] = named(finished, "report publish")
    [process] = named(finished, "report process")
    assert process.kind is trace.SpanKind.CONSUMER
    assert hex_trace_id(process) == hex_trace_id(request)
    assert _parent_id(process) == publish.context.span_id
    attributes = dict(process.attributes or {})
    assert attributes == {
        "messaging.system": "zapjobs",
        "messaging.destination.name": "mail",
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": str(run_id),
        "zapjobs.job_type": "report",
        "zapjobs.attempt": 1,
        "zapjobs.max_attempts": 4,
        "zapjobs.outcome": "succeeded",
    }
    assert process.status.status_code is StatusCode.UNSET
    [event] = process.events
    assert event.name == "halfway"
    assert dict(event.attributes or {}) == {
        "log.severity": "info",
        "zapjobs.log.n": 7,
        "zapjobs.log.where": "{'a': 1}",
    }
    [inner] = named(finished, "inner")  # the job's own spans nest under its attempt
    assert _parent_id(inner) == process.context.span_id


async def test_a_plain_def_job_runs_with_its_attempt_span_current(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    await zap.enqueue("blocking")
    await zap.run_worker(burst=True, queues=["mail", "default"], install_signal_handlers=False)
    finished = spans.get_finished_spans()
    [process] = named(finished, "blocking process")
    [inner] = named(finished, "inner-thread")
    assert _parent_id(inner) == process.context.span_id
    assert [(e.name, dict(e.attributes or {})) for e in process.events] == [
        ("in a thread", {"log.severity": "warning"})
    ]


async def test_a_snoozed_attempt_is_no_error_and_says_snoozed(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    run_id = await zap.enqueue("sleepy")
    await zap.run_worker(burst=True, install_signal_handlers=False)
    assert (await zap.get_run(run_id)).status is RunStatus.SUCCEEDED
    attempts = named(spans.get_finished_spans(), "sleepy process")
    assert [(s.attributes or {})["zapjobs.outcome"] for s in attempts] == ["snoozed", "succeeded"]
    assert [(s.attributes or {})["zapjobs.attempt"] for s in attempts] == [1, 1]
    assert {s.status.status_code for s in attempts} == {StatusCode.UNSET}
    assert not [e for s in attempts for e in s.events if e.name == "exception"]


async def test_a_failing_attempt_records_the_exception_and_an_error_status(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    with trace.get_tracer("app").start_as_current_span("request"):
        run_id = await zap.enqueue("flaky")
    await zap.run_worker(burst=True, queues=["mail", "default"], install_signal_handlers=False)
    assert (await zap.get_run(run_id)).status is RunStatus.FAILED

    finished = spans.get_finished_spans()
    [publish] = named(finished, "flaky publish")
    attempts = named(finished, "flaky process")
    assert [(s.attributes or {})["zapjobs.attempt"] for s in attempts] == [1, 2]
    assert [(s.attributes or {})["zapjobs.outcome"] for s in attempts] == ["retry", "failed"]
    for number, span in enumerate(attempts, start=1):
        assert _parent_id(span) == publish.context.span_id  # every attempt, same parent
        assert span.status.status_code is StatusCode.ERROR
        assert span.status.description == f"ValueError: boom on attempt {number}"
        [exception] = [e for e in span.events if e.name == "exception"]
        attributes = dict(exception.attributes or {})
        assert attributes["exception.type"] == "ValueError"
        assert attributes["exception.message"] == f"boom on attempt {number}"
        stacktrace = str(attributes["exception.stacktrace"])
        assert "in flaky" in stacktrace
        assert stacktrace.rstrip().endswith(f"ValueError: boom on attempt {number}")


async def test_a_run_enqueued_without_tracing_is_processed_in_a_new_trace(
    zap: ZapJobs, spans: InMemorySpanExporter
) -> None:
    """A recurring run, or one enqueued by a process without tracing: no stored context (or
    one no worker can read). Even a worker started inside a span of its application does not
    make them children of that span."""
    from zapjobs.models import NewRun
    from zapjobs.testing import store_of

    ids = await store_of(zap).enqueue(
        [
            NewRun("report", input_json='{"n": 1}', queue="mail"),
            NewRun("report", input_json='{"n": 2}', queue="mail", trace_context="not json"),
            NewRun("report", input_json='{"n": 3}', queue="mail", trace_context='{"x": "y"}'),
        ]
    )
    with trace.get_tracer("app").start_as_current_span("worker process"):
        await zap.run_worker(burst=True, queues=["mail", "default"], install_signal_handlers=False)
    processes = named(spans.get_finished_spans(), "report process")
    assert sorted((s.attributes or {})["messaging.message.id"] for s in processes) == sorted(
        str(i) for i in ids
    )
    assert [s.parent for s in processes] == [None, None, None]
    assert len({s.context.trace_id for s in processes}) == 3  # a trace each


async def test_jobs_raising_base_exceptions_fail_their_traced_attempts_and_the_worker_serves_on(
    store_url: str, spans: InMemorySpanExporter
) -> None:
    """KeyboardInterrupt, SystemExit, GeneratorExit (even thrown into the task by asyncio), a
    job's own CancelledError: with a span around each attempt, each still fails its attempt."""
    from tests.badinput.hostile_jobs import HOSTILE, register

    zap = register(ZapJobs(store_url, auto_migrate=True, polling_interval="50ms"))
    await zap.open()
    try:
        ids = {job_type: await zap.enqueue(job_type) for job_type in HOSTILE}
        ok = await zap.enqueue("ok", 5)
        await zap.run_worker(burst=True, concurrency=4, install_signal_handlers=False)
        for job_type, run_id in ids.items():
            run = await zap.get_run(run_id)
            assert (run.status, run.attempt) == (RunStatus.FAILED, 2), job_type
            assert run.error is not None and run.error.type == HOSTILE[job_type], job_type
        assert (await zap.get_run(ok)).status is RunStatus.SUCCEEDED
    finally:
        await zap.close()
    finished = spans.get_finished_spans()
    for job_type in HOSTILE:
        attempts = named(finished, f"{job_type} process")
        assert [(s.attributes or {})["zapjobs.attempt"] for s in attempts] == [1, 2], job_type
        assert {s.status.status_code for s in attempts} == {StatusCode.ERROR}, job_type
        for span in attempts:
            [exception] = [e for e in span.events if e.name == "exception"]
            assert (exception.attributes or {})["exception.type"] == HOSTILE[job_type]
    [ok_span] = named(finished, "ok process")
    assert ok_span.status.status_code is StatusCode.UNSET


async def test_a_worker_loads_the_tracing_api_before_it_claims(
    zap: ZapJobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Importing opentelemetry takes about 10 ms: done at the start, not in the first run's
    pickup (between its claim and its first line)."""
    from zapjobs import tracing
    from zapjobs.runtime.events import WorkerStarted

    monkeypatch.setattr(tracing, "_trace_api", tracing._UNLOADED)
    loaded_at_start: list[bool] = []

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            loaded_at_start.append(tracing._trace_api is not tracing._UNLOADED)

    await zap.run_worker(burst=True, install_signal_handlers=False, on_event=on_event)
    assert loaded_at_start == [True]
