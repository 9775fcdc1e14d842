"""Model values built in bulk."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from zapjobs.models import NewRun


def test_alike_runs_equal_runs_built_by_the_constructor() -> None:
    due = datetime(2026, 1, 2, tzinfo=UTC)
    first = NewRun(
        job_type="mail",
        input_json='{"to":1}',
        queue="q",
        priority=3,
        run_at=due,
        max_attempts=5,
        trace_context='{"traceparent":"x"}',
    )
    copies = first.alike(['{"to":2}', "null"])
    assert copies == [
        dataclasses.replace(first, input_json='{"to":2}'),
        dataclasses.replace(first, input_json="null"),
    ]
    assert first.input_json == '{"to":1}'  # the template is left as it was
    with pytest.raises(dataclasses.FrozenInstanceError):
        copies[0].input_json = "1"  # type: ignore[misc]
    assert first.alike([]) == []
