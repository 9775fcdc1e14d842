"""``zapjobs worker --metrics-port``: a real worker process serves /metrics over HTTP while it
runs jobs, on SQLite and PostgreSQL; the counters and histograms move as runs finish."""

from __future__ import annotations

import pytest

from tests.cli.conftest import APP, Cli, migrate, stop
from tests.cli.waiting import wait_until
from tests.observability.conftest import Samples, scrape, value


@pytest.fixture(params=["sqlite", "postgres"])
def app_cli(request: pytest.FixtureRequest) -> Cli:
    if request.param == "postgres":
        cli: Cli = request.getfixturevalue("pg_app")
        return cli
    base: Cli = request.getfixturevalue("sqlite_cli")
    migrate(base.url)
    return Cli(base.url, base.cwd, {**base.env, "ZAPJOBS_APP": APP})


def test_worker_serves_run_metrics_while_it_drains(
    app_cli: Cli, port: int, processes: list
) -> None:
    worker = app_cli.start("worker", "--metrics-port", str(port), "--concurrency", "3")
    processes.append(worker)
    wait_until(lambda: scrape(port) is not None, "the worker's /metrics endpoint")
    first = scrape(port)
    assert first is not None
    assert value(first, "zapjobs_runs_in_flight") == 0
    assert value(first, "zapjobs_worker_free_slots") == 3
    assert (
        value(
            first,
            "zapjobs_runs_finished_total",
            job_type="greet",
            queue="default",
            outcome="succeeded",
        )
        == 0
    )

    for name in ("Al", "Bo"):
        ok = app_cli("enqueue", "greet", "--input", f'{{"name": "{name}"}}', "--wait")
        assert ok.code == 0, str(ok)
    failed = app_cli("enqueue", "fail", "--wait")
    assert failed.code == 1, str(failed)

    def finished(samples: Samples | None) -> bool:
        return samples is not None and (
            value(
                samples,
                "zapjobs_runs_finished_total",
                job_type="greet",
                queue="default",
                outcome="succeeded",
            ),
            value(
                samples,
                "zapjobs_runs_finished_total",
                job_type="fail",
                queue="default",
                outcome="failed",
            ),
            value(samples, "zapjobs_completion_write_duration_seconds_count") >= 1,
        ) == (2, 1, True)

    wait_until(lambda: finished(scrape(port)), "the three runs counted")
    samples = scrape(port)
    assert samples is not None
    greet = {"job_type": "greet", "queue": "default"}
    fail = {"job_type": "fail", "queue": "default"}
    assert value(samples, "zapjobs_run_duration_seconds_count", **greet) == 2
    assert value(samples, "zapjobs_run_duration_seconds_count", **fail) == 1
    assert value(samples, "zapjobs_run_duration_seconds_bucket", le="+Inf", **greet) == 2
    assert value(samples, "zapjobs_run_pickup_delay_seconds_count", **greet) == 2
    assert value(samples, "zapjobs_run_pickup_delay_seconds_count", **fail) == 1
    assert value(samples, "zapjobs_runs_claimed_total") == 3
    claims = value(samples, "zapjobs_claims_total")
    assert claims >= 3
    assert value(samples, "zapjobs_claims_empty_total") <= claims - 3
    assert value(samples, "zapjobs_runs_finished_total", outcome="retried", **greet) == 0
    assert value(samples, "zapjobs_runs_in_flight") == 0
    assert value(samples, "zapjobs_worker_free_slots") == 3

    code, _, err = stop(worker)
    assert code == 0, err
    assert f"serving Prometheus metrics on http://127.0.0.1:{port}/metrics" in err
    assert scrape(port) is None  # the endpoint stops with the worker
