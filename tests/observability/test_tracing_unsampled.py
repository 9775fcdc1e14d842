"""An attempt whose span the sampler dropped does no more work than starting it: its outcome is
not read to describe a span that records nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from zapjobs.models import JobRun, RunStatus
from zapjobs.tracing import traced_attempt

from .tracing_support import span_exporter

# a W3C parent whose flags say "not sampled": the default ParentBased sampler drops its children
UNSAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


class WatchedOutcome:
    """Stands for a RunOutcome and counts how often it is looked at."""

    def __init__(self) -> None:
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.reads.append(name)
        raise AttributeError(name)


def _run(trace_context: str) -> JobRun:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return JobRun(
        id=7,
        job_type="report",
        queue="mail",
        priority=0,
        status=RunStatus.RUNNING,
        input=None,
        attempt=1,
        run_at=now,
        created_at=now,
        trace_context=trace_context,
    )


async def test_an_unsampled_attempt_runs_in_its_span_without_reading_the_outcome() -> None:
    spans = span_exporter()
    outcome = WatchedOutcome()
    seen: list[trace.Span] = []

    async def attempt() -> Any:
        seen.append(trace.get_current_span())
        return outcome

    run = _run(json.dumps({"traceparent": UNSAMPLED_PARENT}))
    result = await traced_attempt(run, attempt())

    assert result is outcome
    assert outcome.reads == []
    [current] = seen
    assert not current.is_recording()
    assert format(current.get_span_context().trace_id, "032x") == UNSAMPLED_PARENT.split("-")[1]
    assert trace.get_current_span() is not current  # detached after the attempt
    assert spans.get_finished_spans() == ()
