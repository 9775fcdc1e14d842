"""Tracing across processes, and zapjobs without opentelemetry: through fresh interpreters."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.cli.conftest import APP, clean_env
from zapjobs import JobContext, RunFilter, RunStatus, ZapJobs

from .tracing_support import hex_span_id, hex_trace_id, named, span_exporter

#: The job of the worker processes below (the test process registers the same job type).
JOBS = textwrap.dedent(
    """
    import asyncio, json, sys
    from zapjobs import JobContext, ZapJobs

    zap = ZapJobs(sys.argv[1])

    @zap.job("greet")
    async def greet(ctx: JobContext[dict]) -> str:
        ctx.log.info("greeting", name=ctx.input["name"])
        return "hello, " + ctx.input["name"]

    async def drain():
        try:
            await zap.run_worker(burst=True, install_signal_handlers=False)
        finally:
            await zap.close()
    """
)

#: A worker process that records its spans with its own SDK and prints them as JSON lines.
TRACED_WORKER = JOBS + textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    asyncio.run(drain())
    for span in exporter.get_finished_spans():
        print(json.dumps({
            "name": span.name,
            "kind": span.kind.name,
            "trace_id": format(span.context.trace_id, "032x"),
            "parent_id": None if span.parent is None else format(span.parent.span_id, "016x"),
            "attributes": dict(span.attributes),
            "events": [event.name for event in span.events],
        }))
    """
)

#: A worker process with opentelemetry installed but no TracerProvider set: nothing is traced,
#: and the SDK is never imported.
UNTRACED_WORKER = JOBS + textwrap.dedent(
    """
    asyncio.run(drain())
    print(json.dumps({"sdk_imported": "opentelemetry.sdk" in sys.modules}))
    """
)

#: The real entry point with opentelemetry not importable (as if it were not installed).
CLI_WITHOUT_OTEL = (
    "import runpy, sys; sys.modules['opentelemetry'] = None; "
    "sys.argv[0] = 'zapjobs'; runpy.run_module('zapjobs_cli', run_name='__main__')"
)


def _python(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _greeter(url: str) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("greet")
    async def greet(ctx: JobContext[dict[str, str]]) -> str:
        raise AssertionError("runs in the worker process")

    return zap


async def _migrate(url: str) -> None:
    zap = ZapJobs(url)
    try:
        await zap.migrate()
    finally:
        await zap.close()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return span_exporter()


async def test_a_worker_process_continues_the_trace_of_an_enqueue_in_another(
    pg_url: str, spans: InMemorySpanExporter
) -> None:
    zap = _greeter(pg_url)
    try:
        with trace.get_tracer("app").start_as_current_span("request") as request:
            run_id = await zap.enqueue("greet", {"name": "Bo"})
        lines = _python("-c", TRACED_WORKER, pg_url).splitlines()
        assert (await zap.get_run(run_id)).status is RunStatus.SUCCEEDED
    finally:
        await zap.close()
    [publish] = named(spans.get_finished_spans(), "greet publish")
    worker_spans: list[dict[str, Any]] = [json.loads(line) for line in lines]
    assert worker_spans == [
        {
            "name": "greet process",
            "kind": "CONSUMER",
            "trace_id": hex_trace_id(request),
            "parent_id": hex_span_id(publish),
            "attributes": {
                "messaging.system": "zapjobs",
                "messaging.destination.name": "default",
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.message.id": str(run_id),
                "zapjobs.job_type": "greet",
                "zapjobs.attempt": 1,
                "zapjobs.max_attempts": 4,
                "zapjobs.outcome": "succeeded",
            },
            "events": ["greeting"],
        }
    ]


async def test_without_a_tracer_provider_nothing_is_stored_and_no_sdk_is_loaded(
    sqlite_url: str,
) -> None:
    """opentelemetry installed, but the application set no TracerProvider."""
    await _migrate(sqlite_url)
    script = (
        "import sys, zapjobs, zapjobs_cli.main; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    assert _python("-c", script).strip() == "[]"  # importing zapjobs costs nothing
    enqueue = JOBS + textwrap.dedent(
        """
        async def enqueue():
            try:
                print(await zap.enqueue("greet", {"name": "Bo"}))
            finally:
                await zap.close()
        asyncio.run(enqueue())
        """
    )
    run_id = int(_python("-c", enqueue, sqlite_url))
    assert json.loads(_python("-c", UNTRACED_WORKER, sqlite_url)) == {"sdk_imported": False}
    zap = ZapJobs(sqlite_url)
    try:
        run = await zap.get_run(run_id)
    finally:
        await zap.close()
    assert run.status is RunStatus.SUCCEEDED
    assert run.trace_context is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_enqueue_and_worker_work_without_opentelemetry(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Through the real entry point, with ``import opentelemetry`` failing."""
    url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "pg_url")
    await _migrate(url)
    env = clean_env(ZAPJOBS_DATABASE_URL=url, ZAPJOBS_APP=APP)
    for name in ("Bo", "Al"):
        _python(
            "-c",
            CLI_WITHOUT_OTEL,
            "enqueue",
            "greet",
            "--input",
            json.dumps({"name": name}),
            env=env,
        )
    _python("-c", CLI_WITHOUT_OTEL, "worker", "--burst", env=env)
    zap = ZapJobs(url)
    try:
        runs = await zap.list_runs(RunFilter(job_types=("greet",)))
    finally:
        await zap.close()
    assert sorted(r.output for r in runs) == ["hello, Al!", "hello, Bo!"]
    assert [r.status for r in runs] == [RunStatus.SUCCEEDED] * 2
    assert [r.trace_context for r in runs] == [None, None]
