"""The worker's histograms follow Prometheus' ``le`` rule: a value equal to a bound counts in
that bound's bucket; buckets are cumulative and end with +Inf holding every observation."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import CollectorRegistry

from zapjobs.metrics import WorkerMetrics


def test_a_value_on_a_bound_counts_in_that_bucket() -> None:
    metrics = WorkerMetrics()
    metrics.attach(in_flight=lambda: 2, concurrency=5)
    for seconds in (0.001, 0.0025, 0.003, 20.0):
        metrics.outcomes_written(seconds, 1)
    samples = samples_of(metrics.registry)
    bucket = "zapjobs_completion_write_duration_seconds_bucket"
    assert samples[(bucket, "0.001")] == 1
    assert samples[(bucket, "0.0025")] == 2
    assert samples[(bucket, "0.005")] == 3
    assert samples[(bucket, "10.0")] == 3
    assert samples[(bucket, "+Inf")] == 4
    assert samples[("zapjobs_completion_write_duration_seconds_count", "")] == 4
    assert samples[("zapjobs_completion_write_duration_seconds_sum", "")] == 20.0065
    assert samples[("zapjobs_runs_in_flight", "")] == 2
    assert samples[("zapjobs_worker_free_slots", "")] == 3


def samples_of(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    from prometheus_client import generate_latest

    text = generate_latest(registry).decode()
    return {
        (s.name, s.labels.get("le", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
