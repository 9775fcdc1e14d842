"""``zapjobs demo`` with no server: it finishes on its own and leaves the runs in its file."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from tests.cli.conftest import run_cli
from zapjobs import ZapJobs
from zapjobs.models import JobRun, Page


def test_demo_runs_by_itself_and_leaves_its_database(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    result = run_cli("demo", env=bare_env, cwd=tmp_path, timeout=90)
    assert result.code == 0, str(result)
    database = tmp_path / "zapjobs-demo.db"
    assert database.exists()
    assert "Runs of this demo" in result.stdout
    assert f"zapjobs status -c sqlite:///{database}" in result.stdout
    assert "the service is down" in result.stdout  # a sample of the logs
    assert "Traceback" not in result.output
    # the console lines keep their columns whatever the outcome, and say errors plainly
    lines = [line for line in result.output.splitlines() if line.startswith("  run ")]
    assert len({line.index("  attempt ") for line in lines}) == 1, lines
    assert "ConnectionError: the demo service is down (attempt 1)" in result.output
    assert "zapjobs_cli.demo_jobs" not in result.output

    async def read() -> list[JobRun]:
        zap = ZapJobs(f"sqlite:///{database}")
        try:
            return await zap.list_runs(page=Page(limit=1000))
        finally:
            await zap.close()

    runs = asyncio.run(read())
    outcomes = Counter((run.job_type, run.status.value) for run in runs)
    assert outcomes[("demo-greet", "succeeded")] == 4
    assert outcomes[("demo-crunch", "succeeded")] == 2
    assert outcomes[("demo-broken", "failed")] == 1
    assert outcomes[("demo-tick", "succeeded")] >= 2
    flaky = [run for run in runs if run.job_type == "demo-flaky"]
    assert len(flaky) == 1 and flaky[0].status.value == "succeeded" and flaky[0].attempt == 3
    crunch = [run for run in runs if run.job_type == "demo-crunch"]
    assert {run.progress.processed for run in crunch} == {40, 25}
