"""The benchmark cannot rot: bench/run.py and `zapjobs bench` run end to end with a tiny N on the
test PostgreSQL (and SQLite) and produce every figure they promise. No timing is asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from tests.conftest import PG_BASE_URL, require_postgres
from zapjobs.errors import ConfigurationError
from zapjobs_cli.benchmark import percentiles
from zapjobs_cli.commands.bench import bench_location, medians

ROOT = Path(__file__).resolve().parents[2]


def _load_bench_pgbench() -> ModuleType:
    """bench/pgbench.py, loaded from its file (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("zapbench_pgbench", ROOT / "bench" / "pgbench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


pgbench = _load_bench_pgbench()

RUN = ROOT / "bench" / "run.py"
BENCH_PYTHON = ROOT / "bench" / ".venv" / "bin" / "python"
DEADLINE = 300  # seconds: a stuck benchmark fails instead of hanging the suite

SUITE = ("enqueue_single", "enqueue_bulk", "drain_1x10", "drain_2x10", "latency")
PEERS = "procrastinate,pgqueuer-psycopg,pgqueuer-asyncpg"


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE, check=False, **kwargs
    )


def check_drain(figures: dict[str, Any], jobs: int) -> None:
    assert figures["jobs"] == jobs
    assert figures["ran"] >= jobs
    assert figures["jobs_per_s"] > 0
    assert figures["peak_rss_mb"] > 0


def check_latency(figures: dict[str, Any]) -> None:
    assert figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["p50_ms"] >= 0


def check_lateness(figures: dict[str, Any], config: dict[str, Any]) -> None:
    """Every run scheduled ahead started, none long before it was due (the stamp is the
    producer's due time; the database's can be a fraction of a millisecond later)."""
    assert figures["jobs"] == config["lateness_jobs"]
    assert figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["early_ms"] < 5.0


def check_herd(figures: dict[str, Any], config: dict[str, Any]) -> None:
    """Every job of the herd ran, on one of the idle workers, and the server's CPU was read
    (at 20 quick jobs it may round to 0: the clock ticks are 10 ms)."""
    assert figures["jobs"] == config["latency_jobs"]
    assert figures["workers"] == config["herd_workers"]
    check_latency(figures)
    assert isinstance(figures["server_cpu_us_per_job"], float)


# --- bench/run.py --------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.slow
def test_bench_run_quick_zapjobs(tmp_path: Path) -> None:
    require_postgres()
    output = tmp_path / "bench.json"
    done = run(
        [
            sys.executable,
            str(RUN),
            "--quick",
            "--systems",
            "zapjobs",
            "--url",
            PG_BASE_URL,
            "--output",
            str(output),
        ]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(output.read_text())
    assert set(document) >= {"meta", "config", "runs", "medians", "ratios", "errors"}
    assert document["errors"] == []
    jobs = document["config"]["jobs"]
    zapjobs = document["runs"]["zapjobs"]
    assert set(zapjobs) == {*SUITE, "drain_best_1", "drain_best_2", "lateness", "herd"}
    for scenario in ("drain_1x10", "drain_2x10", "drain_best_1", "drain_best_2"):
        check_drain(zapjobs[scenario][0], jobs)
    assert zapjobs["enqueue_bulk"][0]["jobs_per_s"] > 0
    check_latency(zapjobs["latency"][0])
    check_lateness(zapjobs["lateness"][0], document["config"])
    check_herd(zapjobs["herd"][0], document["config"])
    scale = document["runs"]["zapjobs-1m"]
    assert scale["drain_1x10"][0]["rows"] > 0 and scale["drain_1x10_empty"][0]["rows"] == 0
    assert document["ratios"]["scale_1m_over_empty"]["zapjobs"] > 0
    sqlite = document["runs"]["zapjobs-sqlite"]
    assert set(sqlite) == {*SUITE, "lateness"}
    check_lateness(sqlite["lateness"][0], document["config"])
    check_drain(sqlite["drain_2x10"][0], jobs)
    if pgbench.find_pgbench() is not None:
        ceiling = document["runs"]["postgresql"]
        assert set(ceiling) == {v.name for v in pgbench.VARIANTS}
        assert all(sample[0]["jobs_per_s"] > 0 for sample in ceiling.values())
    assert "zapjobs" in document["medians"]
    assert "figures written to" in done.stderr
    assert "drain_1x10" in done.stdout  # the table


# --- bench/flow.py -------------------------------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.slow
def test_bench_flow_prints_every_figure() -> None:
    require_postgres()
    argv = [sys.executable, str(ROOT / "bench" / "flow.py"), "--url", PG_BASE_URL, "--n", "200"]
    argv += ["--repeat", "1", "--cap-runs", "12", "--rate-runs", "250"]
    done = run(argv, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    for figure in ("uncapped", "others-limited", "limited", "max running", "starts per"):
        assert figure in done.stdout, done.stdout


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.skipif(not BENCH_PYTHON.exists(), reason="no bench/.venv (run bench/setup.sh)")
def test_bench_run_quick_peers(tmp_path: Path) -> None:
    require_postgres()
    output = tmp_path / "peers.json"
    done = run(
        [
            str(BENCH_PYTHON),
            str(RUN),
            "--quick",
            "--systems",
            f"zapjobs,{PEERS}",
            "--only",
            "enqueue,drain,latency,lateness,herd",
            "--drains",
            "drain_1x10",
            "--url",
            PG_BASE_URL,
            "--output",
            str(output),
        ]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(output.read_text())
    assert document["errors"] == []
    for system in ("zapjobs", *PEERS.split(",")):
        figures = document["runs"][system]
        check_drain(figures["drain_1x10"][0], document["config"]["jobs"])
        check_latency(figures["latency"][0])
        check_lateness(figures["lateness"][0], document["config"])
        check_herd(figures["herd"][0], document["config"])
        assert figures["enqueue_single"][0]["jobs_per_s"] > 0
        assert document["ratios"]["drain_1x10"].get(system, 1.0) > 0


# --- zapjobs bench -------------------------------------------------------------------------------
def zapjobs_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("ZAPJOBS_DATABASE_URL", None)
    env.pop("DATABASE_URL", None)
    return run([sys.executable, "-m", "zapjobs_cli", *args], env=env)


def check_cli_document(document: dict[str, Any]) -> None:
    results = document["results"]
    assert set(results) == {*SUITE, "drain_best_1"}
    jobs = document["config"]["jobs"]
    for scenario in ("drain_1x10", "drain_2x10", "drain_best_1"):
        check_drain(results[scenario], jobs)
    check_latency(results["latency"])
    assert len(document["repeats"]) == 1


@pytest.mark.postgres
@pytest.mark.slow
def test_cli_bench_quick_postgres_cleans_up(pg_url: str) -> None:
    done = zapjobs_cli("-c", pg_url, "bench", "--quick", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    document = json.loads(done.stdout)
    check_cli_document(document)
    assert document["backend"] == "postgres"
    with psycopg.connect(pg_url) as conn:
        left = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    assert left == []


@pytest.mark.slow
def test_cli_bench_quick_sqlite_cleans_up(tmp_path: Path) -> None:
    done = zapjobs_cli("-c", f"sqlite:///{tmp_path / 'app.db'}", "bench", "--quick")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "drain, 2 worker processes" in done.stdout
    assert "pickup latency" in done.stdout
    assert list(tmp_path.iterdir()) == []  # its own file, deleted; the app's never created


def test_cli_bench_refuses_memory_store() -> None:
    with pytest.raises(ConfigurationError, match="memory"):
        bench_location("memory://")


# --- the arithmetic ------------------------------------------------------------------------------
def test_percentiles_interpolate_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    result = percentiles(values)
    assert result["p50_ms"] == pytest.approx(50.5)
    assert result["p95_ms"] == pytest.approx(95.05)
    assert result["p99_ms"] == pytest.approx(99.01)
    assert percentiles([7.0]) == {"p50_ms": 7.0, "p95_ms": 7.0, "p99_ms": 7.0}


def test_medians_over_repeats_keep_text() -> None:
    repeats = [
        {"drain_1x10": {"jobs_per_s": 10.0, "setting": "concurrency 10"}},
        {"drain_1x10": {"jobs_per_s": 30.0, "setting": "concurrency 10"}},
        {"drain_1x10": {"jobs_per_s": 20.0, "setting": "concurrency 10"}},
    ]
    assert medians(repeats) == {"drain_1x10": {"jobs_per_s": 20.0, "setting": "concurrency 10"}}
