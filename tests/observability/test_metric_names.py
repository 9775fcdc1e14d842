"""One set of metric names: what the worker and the exporter expose is what the README's Metrics
table documents, and every expression of the sample Grafana dashboard uses only those names.
Also: nothing imports the metrics code (or prometheus-client) when metrics are off."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prometheus_client.core import Metric

from zapjobs.metrics import QueueSnapshot, WorkerMetrics, queue_families
from zapjobs.models import Backlog, FailureCount

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\bzapjobs_[a-z_]+\b")


def exposed() -> list[Metric]:
    snapshot = QueueSnapshot(
        now=datetime(2026, 1, 1, tzinfo=UTC),
        backlog=[Backlog("q", "j", pending=1, oldest_due_at=datetime(2026, 1, 1, tzinfo=UTC))],
        failures=[FailureCount("q", "j", 1)],
        workers_alive={"q": 1},
        window=timedelta(minutes=5),
        queues=["q"],
    )
    up = Metric("zapjobs_exporter_up", "", "gauge")
    return [*WorkerMetrics().registry.collect(), up, *queue_families(snapshot)]


def documented_name(metric: Metric) -> str:
    """The name a person writes: counters with ``_total``, the rest as they are."""
    return metric.name + "_total" if metric.type == "counter" else metric.name


def series_names(metric: Metric) -> set[str]:
    """The names a query can use: the family's, and its series' (``_bucket``, ``_sum``...)."""
    names = {documented_name(metric)}
    if metric.type == "histogram":
        names |= {metric.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    return names


def readme_table_names() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    observability = text.split("\n## Observability\n", 1)[1].split("\n## ", 1)[0]
    section = observability.split("\n### Metrics\n", 1)[1].split("\n### ", 1)[0]
    return {m.group(1) for m in re.finditer(r"^\| `(zapjobs_[a-z_]+)` \|", section, re.M)}


def test_the_readme_table_lists_exactly_the_exposed_metrics() -> None:
    assert readme_table_names() == {documented_name(m) for m in exposed()}


def test_every_grafana_expression_uses_exposed_metric_names() -> None:
    dashboard = json.loads((ROOT / "docs" / "grafana-zapjobs.json").read_text(encoding="utf-8"))
    known = set().union(*(series_names(m) for m in exposed()))
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert expressions
    used = {name for expr in expressions for name in NAME.findall(expr)}
    assert used <= known, sorted(used - known)


def test_metrics_code_is_not_imported_when_metrics_are_off(tmp_path: Path) -> None:
    code = """
import asyncio, sys
from zapjobs import ZapJobs, JobContext
zap = ZapJobs("sqlite:///%s", auto_migrate=True)

@zap.job("noop")
async def noop(ctx: JobContext[None]) -> None:
    return None

async def main() -> None:
    await zap.open()
    await zap.enqueue("noop")
    summary = await zap.run_worker(burst=True, install_signal_handlers=False)
    await zap.close()
    assert summary.succeeded == 1, summary
    print(sorted(m for m in sys.modules if m.startswith(("prometheus_client", "zapjobs.metrics"))))

asyncio.run(main())
""" % (tmp_path / "off.db")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
