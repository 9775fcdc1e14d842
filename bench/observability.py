"""What Prometheus metrics and OpenTelemetry tracing cost a worker (issue 17): drain 1x10 with
each configuration, interleaved with plain drains, and the paired ratio to plain.

    .venv/bin/python bench/observability.py                    # 3 rounds of 20,000 jobs
    .venv/bin/python bench/observability.py --n 2000 --rounds 1   # a trial (seconds)

Configurations (the worker is one OS process at concurrency 10, as in bench/run.py's drain_1x10):

- ``plain``: neither;
- ``metrics``: ``run_worker(metrics_port=<a free port>)``; the bench scrapes ``/metrics`` once a
  second during the drain, as Prometheus would;
- ``trace-all``: the OpenTelemetry SDK's TracerProvider, ALWAYS_ON sampler, a BatchSpanProcessor
  to an exporter that drops the spans (what zapjobs and the SDK cost, not the export's I/O);
- ``trace-1pct``: the same with ParentBased(TraceIdRatioBased(0.01));
- ``metrics+trace-all``, ``metrics+trace-1pct``: both.

The runs are enqueued outside any span (no stored trace context), so the worker's spans are
roots and the 1% sampler decides on its own. Each round runs every configuration next to a plain
drain (plain first in odd rounds, second in even ones) and takes the ratio inside the pair, so a
noisy phase of the shared machine moves both sides; the table shows medians over rounds. Every
drain gets fresh tables (prefix ``obs<i>_``) in one schema of its own (``zapobs_<random>``),
dropped at the end. Needs prometheus-client and opentelemetry-sdk (the ``test`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
RATIO = 0.01


@dataclass(frozen=True)
class Config:
    name: str
    metrics: bool
    tracing: str  # "off", "all" (ALWAYS_ON) or "ratio" (ParentBased(TraceIdRatioBased(1%)))


PLAIN = Config("plain", False, "off")
CONFIGS = (
    Config("metrics", True, "off"),
    Config("trace-all", False, "all"),
    Config("trace-1pct", False, "ratio"),
    Config("metrics+trace-all", True, "all"),
    Config("metrics+trace-1pct", True, "ratio"),
)
BY_NAME = {c.name: c for c in (PLAIN, *CONFIGS)}


# --- the worker process --------------------------------------------------------------------------
def _install_tracing(mode: str) -> Any:
    """A global TracerProvider whose spans go to an exporter that counts and drops them."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased

    class Dropping(SpanExporter):
        def __init__(self) -> None:
            self.spans = 0

        def export(self, spans: Any) -> SpanExportResult:
            self.spans += len(spans)
            return SpanExportResult.SUCCESS

    sampler = ALWAYS_ON if mode == "all" else ParentBased(TraceIdRatioBased(RATIO))
    exporter = Dropping()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider, exporter


async def worker_main(args: argparse.Namespace) -> int:
    """One drain worker speaking zapjobs_cli.benchmark_worker's protocol (ready, go, done)."""
    from zapjobs_cli.benchmark import build_app
    from zapjobs_cli.benchmark_worker import URL_ENV, Probe, WorkerSide

    tracing = _install_tracing(args.tracing) if args.tracing != "off" else None
    side = WorkerSide()
    probe = Probe()
    zap = build_app(os.environ[URL_ENV], args.prefix, probe=probe)
    try:
        await zap.open()
        side.ready()
        if not await side.wait_go_or_stop():
            side.done(probe, claimed=0)
            return 0
        summary = await zap.run_worker(
            concurrency=args.concurrency,
            burst=True,
            install_signal_handlers=False,
            metrics_port=args.metrics_port,
        )
        if tracing is not None and args.spans_file:  # after the drain: the clock has stopped
            provider, exporter = tracing
            provider.force_flush()
            _write(args.spans_file, str(exporter.spans))
        side.done(probe, claimed=summary.claimed, succeeded=summary.succeeded)
    finally:
        await zap.close()
    return 0


def _write(path: str, text: str) -> None:
    Path(path).write_text(text, encoding="utf-8")


# --- the hooks alone: CPU per attempt, in process, no database ---------------------------------
def hooks_tracing(mode: str, attempts: int = 20_000) -> float:
    """Microseconds of CPU per ``traced_attempt`` around an attempt that does nothing. ``mode``
    is the sampler (off, ratio, all), then ``+stored`` or ``+unsampled`` for a run carrying a W3C
    context, sampled or not, as an enqueue inside a span leaves it."""
    from datetime import UTC, datetime

    from zapjobs import tracing
    from zapjobs.models import JobRun, RunOutcome, RunStatus

    sampler, _, stored = mode.partition("+")
    if sampler != "off":
        _install_tracing(sampler)
    now = datetime.now(UTC)
    flags = "00" if stored == "unsampled" else "01"
    parent = json.dumps(
        {"traceparent": f"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-{flags}"}
    )
    run = JobRun(
        id=123_456,
        job_type="noop",
        queue="default",
        priority=0,
        status=RunStatus.RUNNING,
        input=None,
        attempt=1,
        run_at=now,
        created_at=now,
        trace_context=parent if stored else None,
    )
    outcome = RunOutcome(run_id=run.id, worker_id="w", attempt=1, status=RunStatus.SUCCEEDED)

    async def attempt() -> RunOutcome:
        return outcome

    async def measure() -> float:
        for _ in range(2_000):
            await tracing.traced_attempt(run, attempt())
        best = float("inf")
        for _ in range(5):
            started = time.process_time()
            for _ in range(attempts):
                await tracing.traced_attempt(run, attempt())
            best = min(best, (time.process_time() - started) / attempts)
        return best * 1e6

    return asyncio.run(measure())


def hooks_metrics(runs: int = 20_000) -> tuple[float, float]:
    """(microseconds of CPU per run of a worker's metric hooks, in batches of 10 claimed runs;
    milliseconds of one scrape of them)."""
    from datetime import UTC, datetime, timedelta

    from prometheus_client import generate_latest

    from zapjobs.metrics import WorkerMetrics
    from zapjobs.models import JobRun, RunStatus
    from zapjobs.runtime.events import RunFinished

    metrics = WorkerMetrics()
    now = datetime.now(UTC)
    batches = [
        [
            JobRun(
                id=first + i,
                job_type="noop",
                queue="default",
                priority=0,
                status=RunStatus.RUNNING,
                input=None,
                attempt=1,
                run_at=now,
                created_at=now,
                started_at=now + timedelta(milliseconds=3),
            )
            for i in range(10)
        ]
        for first in range(0, runs, 10)
    ]
    ends = [
        [RunFinished(r.id, r.job_type, RunStatus.SUCCEEDED, 1, 0.0001) for r in batch]
        for batch in batches
    ]
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        for batch, finished in zip(batches, ends, strict=True):
            metrics.claimed(10, batch)
            for event in finished:
                metrics.event(event)
            metrics.outcomes_written(0.002, 10)
        best = min(best, (time.process_time() - started) / runs)
    started = time.process_time()
    for _ in range(50):
        generate_latest(metrics.registry)
    return best * 1e6, (time.process_time() - started) / 50 * 1e3


def hooks_table() -> str:
    """Each tracing mode in a process of its own (a TracerProvider is set once per process)."""
    rows = ["| hook | CPU per attempt |", "|---|---:|"]
    for mode, label in (
        ("off", "tracing: no TracerProvider"),
        ("ratio", "tracing: ParentBased(1%), run enqueued untraced"),
        ("ratio+unsampled", "tracing: ParentBased(1%), stored context not sampled"),
        ("all", "tracing: ALWAYS_ON, run enqueued untraced"),
        ("all+stored", "tracing: ALWAYS_ON, stored context"),
    ):
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--hooks-worker", mode],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(f"| {label} | {float(done.stdout):.1f} us |")
    per_run, scrape = hooks_metrics()
    rows.append(f"| metrics: claim, finish and write hooks | {per_run:.1f} us |")
    rows.append(f"| metrics: one scrape (another thread, once a second) | {scrape:.2f} ms |")
    return "\n".join(rows)


# --- the bench -----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Scraper:
    """GET /metrics once a second while a drain runs; the last body is parsed at the end."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.scrapes = 0
        self.failures = 0
        self.last = ""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.last = await asyncio.to_thread(self._get)
                self.scrapes += 1
            except OSError:
                self.failures += 1

    def _get(self) -> str:
        with urllib.request.urlopen(self.url, timeout=2) as response:
            body: bytes = response.read()
        return body.decode("utf-8")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def finished_runs(self) -> float:
        """zapjobs_runs_finished_total summed over labels in the last scrape (a sanity check)."""
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.last):
            if family.name == "zapjobs_runs_finished":
                total += sum(s.value for s in family.samples if s.name.endswith("_total"))
        return total


class ObservabilityBench:
    def __init__(self, args: argparse.Namespace) -> None:
        from zapjobs_cli.benchmark import BenchConfig

        self.args = args
        self.url: str = args.url
        self.config = BenchConfig(jobs=args.n)
        self.conninfo = ""
        self.count = 0
        self.results: dict[str, list[dict[str, Any]]] = {}
        self.pairs: dict[str, list[dict[str, float]]] = {}
        self.spies: list[subprocess.Popen[bytes]] = []

    @contextlib.asynccontextmanager
    async def schema(self) -> AsyncIterator[None]:
        import psycopg
        from psycopg.conninfo import make_conninfo

        name = "zapobs_" + secrets.token_hex(4)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        self.conninfo = make_conninfo(self.url, options=f"-csearch_path={name}")
        try:
            yield
        finally:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    async def drain(self, config: Config) -> dict[str, Any]:
        """One drain 1x10 of ``--n`` runs on fresh tables, with ``config``."""
        from drain import drop_postgres_tables

        from zapjobs_cli.benchmark import Drain, ZapjobsTarget, measure_drain, measure_enqueue
        from zapjobs_cli.benchmark_process import WorkerProcess
        from zapjobs_cli.benchmark_worker import URL_ENV

        self.count += 1
        prefix = f"obs{self.count}_"
        port = free_port() if config.metrics else None
        scraper = Scraper(port) if port is not None else None
        target = ZapjobsTarget(self.conninfo, prefix, self.config, name=config.name)
        spans_file = Path(tempfile.mkdtemp(prefix="zapobs-")) / "spans"

        def worker(mode: str, profile: str, expect: int | None = None) -> WorkerProcess:
            argv = [sys.executable, str(Path(__file__).resolve()), "--worker"]
            argv += ["--prefix", prefix, "--concurrency", str(self.config.concurrency)]
            argv += ["--tracing", config.tracing, "--spans-file", str(spans_file)]
            if port is not None:
                argv += ["--metrics-port", str(port)]
            return WorkerProcess(argv, env={**os.environ, URL_ENV: self.conninfo})

        target.worker = worker  # type: ignore[method-assign]

        def on_ready(process: WorkerProcess) -> None:
            if scraper is not None:
                scraper.start()
            if self.args.profile is not None:
                self.profile(process, f"{config.name}-{self.count}")

        await target.open()
        try:
            await measure_enqueue(target, self.config, bulk=True)
            figures = await measure_drain(
                target, self.config, Drain("drain_1x10", 1, "default"), on_ready=on_ready
            )
        finally:
            if scraper is not None:
                await scraper.stop()
            await target.close()
            await drop_postgres_tables(self.conninfo, prefix)
        if spans_file.exists():
            figures["spans_exported"] = int(spans_file.read_text(encoding="utf-8"))
        shutil.rmtree(spans_file.parent, ignore_errors=True)
        if scraper is not None:
            figures["scrapes"] = scraper.scrapes
            figures["scrape_failures"] = scraper.failures
            figures["finished_in_last_scrape"] = scraper.finished_runs()
        self.results.setdefault(config.name, []).append(figures)
        extra = f", {figures['scrapes']} scrapes" if scraper is not None else ""
        if "spans_exported" in figures:
            extra += f", {figures['spans_exported']} spans"
        print(
            f"  {config.name:<20} {figures['jobs_per_s']:>8,.0f} jobs/s  "
            f"worker CPU {figures['worker_cpu_ms_per_1k_jobs']:6.1f} ms/1k jobs{extra}",
            file=sys.stderr,
            flush=True,
        )
        return figures

    def profile(self, process: Any, label: str) -> None:
        """--profile DIR: py-spy records the worker (raw collapsed stacks, one file each)."""
        spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        folder: Path = self.args.profile
        folder.mkdir(parents=True, exist_ok=True)
        argv = [spy, "record", "--pid", str(process.pid), "--rate", "250", "--format", "raw"]
        self.spies.append(
            subprocess.Popen(
                [*argv, "-o", str(folder / f"{label}.txt")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    async def run(self) -> None:
        chosen = [BY_NAME[name] for name in self.args.configs]
        async with self.schema():
            for round_ in range(1, self.args.rounds + 1):
                print(f"round {round_} of {self.args.rounds}", file=sys.stderr, flush=True)
                for config in chosen:
                    if round_ % 2:
                        plain = await self.drain(PLAIN)
                        other = await self.drain(config)
                    else:
                        other = await self.drain(config)
                        plain = await self.drain(PLAIN)
                    self.pairs.setdefault(config.name, []).append(
                        {
                            "jobs_per_s": other["jobs_per_s"] / plain["jobs_per_s"],
                            "cpu": other["worker_cpu_ms_per_1k_jobs"]
                            / plain["worker_cpu_ms_per_1k_jobs"],
                        }
                    )

    def table(self) -> str:
        def median(values: list[float]) -> float:
            return statistics.median(values)

        rows = [
            "| configuration | jobs/s | ratio to plain | worker CPU ms / 1k jobs | CPU ratio |",
            "|---|---:|---:|---:|---:|",
        ]
        for name in ["plain", *self.pairs]:
            runs = self.results.get(name, [])
            if not runs:
                continue
            rate = median([r["jobs_per_s"] for r in runs])
            cpu = median([r["worker_cpu_ms_per_1k_jobs"] for r in runs])
            if name == "plain":
                ratio = cpu_ratio = "1.00"
            else:
                ratio = f"{median([p['jobs_per_s'] for p in self.pairs[name]]):.2f}"
                cpu_ratio = f"{median([p['cpu'] for p in self.pairs[name]]):.2f}"
            rows.append(f"| {name} | {rate:,.0f} | {ratio} | {cpu:.1f} | {cpu_ratio} |")
        return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="the cost of metrics and tracing (drain 1x10)")
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL to run on")
    parser.add_argument("--n", type=int, default=20_000, help="jobs per drain")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians over them)")
    parser.add_argument(
        "--configs",
        type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
        default=[c.name for c in CONFIGS],
        help=",".join(c.name for c in CONFIGS),
    )
    parser.add_argument("--output", type=Path, default=None, help="the JSON file to write")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy raw stacks of each worker here"
    )
    # the worker process's own options
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument("--tracing", choices=("off", "all", "ratio"), help=argparse.SUPPRESS)
    parser.add_argument("--metrics-port", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--spans-file", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--hooks", action="store_true", help="only the hooks' CPU per attempt, no database"
    )
    parser.add_argument("--hooks-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = [c for c in args.configs if c not in BY_NAME or c == "plain"]
    if unknown:
        parser.error(f"unknown configuration {', '.join(unknown)}")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return await worker_main(args)
    if args.hooks_worker:
        print(await asyncio.to_thread(hooks_tracing, args.hooks_worker))
        return 0
    if args.hooks:
        print(await asyncio.to_thread(hooks_table))
        return 0
    bench = ObservabilityBench(args)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    try:
        await bench.run()
    finally:
        for spy in bench.spies:  # each stops when its worker exits
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
    print(
        f"\ndrain 1x10, {args.n:,} no-op jobs, {args.rounds} round(s); medians; ratios paired "
        f"within a round; load average {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} "
        "after\n"
    )
    print(bench.table())
    document = {
        "started_at": started.isoformat(),
        "config": {"n": args.n, "rounds": args.rounds, "configs": args.configs},
        "load_average": [list(load_before), list(os.getloadavg())],
        "runs": bench.results,
        "pairs": bench.pairs,
    }
    output = args.output or HERE / "results" / f"observability-{started:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
