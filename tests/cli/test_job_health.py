"""``zapjobs jobs show`` (and ``--json``) tells a job type's last hour through the real entry
point: how many of its runs succeeded and failed, the success rate, p50 and p95 durations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.cli.conftest import Cli
from zapjobs import ZapJobs
from zapjobs.models import NewRun, RunError, RunOutcome, RunStatus
from zapjobs.testing import store_of


async def _finish(zap: ZapJobs, job_type: str, took: float, status: RunStatus) -> None:
    """One run of ``job_type`` that started ten minutes ago and took ``took`` seconds."""
    store = store_of(zap)
    started = datetime.now(UTC) - timedelta(minutes=10)
    await store.enqueue([NewRun(job_type)], now=started)
    [run] = await store.claim("w1", ["default"], [job_type], 1, now=started)
    error = RunError("ValueError", "boom") if status is RunStatus.FAILED else None
    outcome = RunOutcome(run.id, "w1", run.attempt, status, error=error)
    await store.complete([outcome], now=started + timedelta(seconds=took))


def test_jobs_show_gives_the_last_hours_success_rate_and_durations(pg_app: Cli) -> None:
    assert json.loads(pg_app("jobs", "show", "greet", "--json").stdout)["last_hour"] == {
        "succeeded": 0,
        "failed": 0,
        "success_rate": None,
        "p50_seconds": None,
        "p95_seconds": None,
    }

    async def seed(zap: ZapJobs) -> None:
        await zap.open()
        for took in (2, 4, 6):
            await _finish(zap, "greet", took, RunStatus.SUCCEEDED)
        await _finish(zap, "greet", 8, RunStatus.FAILED)

    pg_app.query(seed)
    shown = json.loads(pg_app("jobs", "show", "greet", "--json").stdout)["last_hour"]
    assert shown == {
        "succeeded": 3,
        "failed": 1,
        "success_rate": 0.75,
        "p50_seconds": pytest.approx(5.0),
        "p95_seconds": pytest.approx(7.7),
    }
    text = pg_app("jobs", "show", "greet")
    assert text.code == 0, str(text)
    assert "last hour        3 ok, 1 failed (75.0%), p50 5.0s, p95 7.7s" in text.stdout
