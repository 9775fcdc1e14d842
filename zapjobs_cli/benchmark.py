"""The zapjobs side of the benchmark (issue 8), through the public API only: enqueue one at a time
and in bulk, drain with worker processes, pickup latency. ``zapjobs bench`` runs it on the
configured database; bench/run.py runs the same suite for zapjobs and its peers.

A *target* is one system under test (``BenchTarget``); its workers are separate OS processes
speaking the line protocol of ``zapjobs_cli.benchmark_worker``. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from zapjobs import JobContext, RunFilter, RunStatus, ZapJobs
from zapjobs_cli.benchmark_process import BenchmarkError, WorkerProcess
from zapjobs_cli.benchmark_worker import PROGRESS_EVERY, URL_ENV, Probe

__all__ = [
    "ALL_DRAINS",
    "DEFAULT_DRAINS",
    "BenchConfig",
    "BenchTarget",
    "BenchmarkError",
    "Drain",
    "WorkerProcess",
    "ZapjobsTarget",
    "build_app",
    "measure_drain",
    "measure_enqueue",
    "measure_herd",
    "measure_latency",
    "measure_lateness",
    "percentiles",
    "run_suite",
    "suite_steps",
]

_UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING)
NOOP_JOB = "zapbench-noop"
LATENCY_JOB = "zapbench-latency"


@dataclass(frozen=True)
class BenchConfig:
    jobs: int = 20_000  # per enqueue and drain scenario
    bulk_size: int = 1_000  # runs per bulk enqueue call
    concurrency: int = 10  # jobs in flight per worker process (pgqueuer: its batch size)
    best_concurrency: int = 100  # the "best setting" drains (pgqueuer: a batch of 100)
    latency_jobs: int = 500
    latency_rate: float = 50.0  # jobs per second
    lateness_jobs: int = 500  # runs due at random times over lateness_spread seconds
    lateness_spread: float = 30.0
    lateness_lead: float = 3.0  # seconds from the first enqueue to the first due time
    herd_workers: int = 8  # idle worker processes; latency_jobs enqueued at latency_rate
    herd_settle: float = 2.0  # idle seconds after the workers start, before the enqueues
    deadline: float = 600.0  # seconds one step may take before the run is abandoned

    def quick(self) -> BenchConfig:
        """A tiny run that checks the machinery (CI smoke), not the speed."""
        return replace(
            self,
            jobs=200,
            bulk_size=100,
            latency_jobs=20,
            lateness_jobs=20,
            lateness_spread=1.0,
            lateness_lead=1.0,
            herd_workers=2,
            herd_settle=0.5,
            deadline=120.0,
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Drain:
    """A drain scenario: ``processes`` workers, each with the target's ``profile`` setting."""

    name: str
    processes: int
    profile: str  # "default" (10 in flight) or "best" (the target's throughput setting)


DEFAULT_DRAINS = (
    Drain("drain_1x10", 1, "default"),
    Drain("drain_2x10", 2, "default"),
    Drain("drain_best_1", 1, "best"),
)
ALL_DRAINS = (*DEFAULT_DRAINS, Drain("drain_best_2", 2, "best"))


def build_app(
    url: str,
    prefix: str,
    *,
    probe: Probe | None = None,
    polling_interval: float | None = None,
) -> ZapJobs:
    """The benchmark's ZapJobs: two no-op job types that only tell ``probe`` they started."""
    overrides: dict[str, Any] = {"table_prefix": prefix}
    if polling_interval is not None:
        overrides["polling_interval"] = timedelta(seconds=polling_interval)
    zap = ZapJobs(url, **overrides)

    @zap.job(NOOP_JOB, max_retries=0)
    async def noop(ctx: JobContext[int]) -> None:
        if probe is not None:
            probe.started()

    @zap.job(LATENCY_JOB, max_retries=0)
    async def stamped(ctx: JobContext[float]) -> None:
        if probe is not None:
            probe.stamped(ctx.input)

    return zap


# --- targets -------------------------------------------------------------------------------------
class BenchTarget(Protocol):
    """One system under test, open on its own fresh installation."""

    name: str

    async def enqueue_single(self, count: int) -> None: ...
    async def enqueue_bulk(self, count: int, batch: int) -> None: ...
    async def enqueue_stamped(self, stamp: float, delay: float = 0.0) -> None:
        """Enqueue one latency job carrying ``stamp`` (time.monotonic() at which it is due:
        at enqueue, or ``delay`` seconds later through the system's own scheduling)."""
        ...

    async def unfinished(self) -> int:
        """Jobs not yet finished (pending or running)."""
        ...

    def worker(self, mode: str, profile: str, expect: int | None = None) -> WorkerProcess: ...
    def describe(self, profile: str) -> str: ...


class ZapjobsTarget:
    """zapjobs on one database URL and table prefix (PostgreSQL or SQLite)."""

    def __init__(
        self,
        url: str,
        prefix: str,
        config: BenchConfig,
        *,
        name: str = "zapjobs",
        polling_interval: float | None = None,
        python: str = sys.executable,
    ) -> None:
        self.name = name
        self.url = url
        self.prefix = prefix
        self.config = config
        self.polling_interval = polling_interval
        self.python = python
        self.zap = build_app(url, prefix, polling_interval=polling_interval)

    async def open(self) -> None:
        await self.zap.migrate()

    async def close(self) -> None:
        await self.zap.close()

    async def enqueue_single(self, count: int) -> None:
        for i in range(count):
            await self.zap.enqueue(NOOP_JOB, i)

    async def enqueue_bulk(self, count: int, batch: int) -> None:
        for start in range(0, count, batch):
            await self.zap.enqueue_many(NOOP_JOB, list(range(start, min(count, start + batch))))

    async def enqueue_stamped(self, stamp: float, delay: float = 0.0) -> None:
        later = timedelta(seconds=delay) if delay > 0 else None
        await self.zap.enqueue(LATENCY_JOB, stamp, delay=later)

    async def unfinished(self) -> int:
        return await self.zap.count_runs(RunFilter(statuses=_UNFINISHED))

    def _concurrency(self, profile: str) -> int:
        return self.config.best_concurrency if profile == "best" else self.config.concurrency

    def describe(self, profile: str) -> str:
        return f"concurrency {self._concurrency(profile)}"

    def worker(self, mode: str, profile: str, expect: int | None = None) -> WorkerProcess:
        argv = [self.python, "-m", "zapjobs_cli.benchmark_worker", "--prefix", self.prefix]
        argv += ["--mode", mode, "--concurrency", str(self._concurrency(profile))]
        if expect is not None:
            argv += ["--expect", str(expect)]
        if self.polling_interval is not None:
            argv += ["--polling-interval", str(self.polling_interval)]
        return WorkerProcess(argv, env={**os.environ, URL_ENV: self.url})


# --- scenarios -----------------------------------------------------------------------------------
def rate(jobs: int, seconds: float) -> float:
    return jobs / seconds if seconds > 0 else float("inf")


async def _bounded(step: Awaitable[None], seconds: float, what: str) -> None:
    try:
        await asyncio.wait_for(step, timeout=seconds)
    except TimeoutError:
        raise BenchmarkError(f"{what} did not finish within {seconds:.0f}s") from None


async def measure_enqueue(
    target: BenchTarget, config: BenchConfig, *, bulk: bool
) -> dict[str, float]:
    started = time.perf_counter()
    if bulk:
        step = target.enqueue_bulk(config.jobs, config.bulk_size)
    else:
        step = target.enqueue_single(config.jobs)
    await _bounded(step, config.deadline, "enqueue")
    seconds = time.perf_counter() - started
    return {"jobs": config.jobs, "seconds": seconds, "jobs_per_s": rate(config.jobs, seconds)}


def _close_all(workers: list[WorkerProcess]) -> None:
    for worker in workers:
        worker.close()


async def measure_drain(
    target: BenchTarget,
    config: BenchConfig,
    drain: Drain,
    *,
    jobs: int | None = None,
    on_ready: Callable[[WorkerProcess], None] | None = None,
) -> dict[str, Any]:
    """Drain the ``jobs`` runs already enqueued: the time from the first job start to the moment
    the database shows none unfinished (every result written), polled every 10 ms, so process
    start-up and shutdown are left out for every system alike. ``on_ready`` sees each worker
    before it starts (e.g. to attach a profiler)."""
    jobs = config.jobs if jobs is None else jobs
    workers: list[WorkerProcess] = []
    cpu_at_ready = 0.0
    try:
        for _ in range(drain.processes):
            workers.append(target.worker("drain", drain.profile))
        for worker in workers:
            ready = await worker.wait_event("ready", config.deadline)
            cpu_at_ready += float(ready.get("cpu", 0.0))
            if on_ready is not None:
                on_ready(worker)
        go = time.monotonic()
        for worker in workers:
            worker.send("go")
        drained = await _wait_drained(target, workers, jobs, config.deadline)
        done = [await worker.wait_event("done", config.deadline) for worker in workers]
    finally:
        await asyncio.to_thread(_close_all, workers)
    ran = sum(int(d["jobs"]) for d in done)
    if ran < jobs:
        raise BenchmarkError(f"{target.name} {drain.name}: the workers ran {ran} of {jobs} jobs")
    first = min(float(d["first_start"]) for d in done if d["first_start"] is not None)
    cpu = sum(float(d.get("cpu", 0.0)) for d in done) - cpu_at_ready
    return {
        "jobs": jobs,
        "ran": ran,
        "seconds": drained - first,
        "jobs_per_s": rate(jobs, drained - first),
        "start_seconds": first - go,
        "exit_seconds": max(float(d["end"]) for d in done) - drained,
        "processes": drain.processes,
        "setting": target.describe(drain.profile),
        "peak_rss_mb": max(int(d["peak_rss_kb"]) for d in done) / 1024,
        "worker_cpu_s": cpu,
        "worker_cpu_ms_per_1k_jobs": cpu * 1e6 / jobs,
    }


async def _wait_drained(
    target: BenchTarget, workers: list[WorkerProcess], jobs: int, timeout: float
) -> float:
    """The monotonic time at which the target first reports nothing unfinished. It asks the
    database only once the workers' own counts say the last runs are under way (each reports
    every PROGRESS_EVERY starts): a count of the unfinished runs every 10 ms through the whole
    drain took a fifth of a core from the server under test (zapjobs' count of 20,000 runs, 4-9
    ms each; a peer's new connection each time)."""
    deadline = time.monotonic() + timeout
    tail = jobs - len(workers) * PROGRESS_EVERY
    while True:
        exited = all(worker.proc.poll() is not None for worker in workers)
        if exited or sum(worker.started for worker in workers) >= tail:
            left = await target.unfinished()
            if left == 0:
                return time.monotonic()
            if exited:
                tails = "; ".join(worker.stderr_tail(3) for worker in workers)
                raise BenchmarkError(
                    f"{target.name}: the workers exited with {left} jobs left: {tails}"
                )
        if time.monotonic() > deadline:
            left = await target.unfinished()
            raise BenchmarkError(f"{target.name}: {left} jobs left after {timeout:.0f}s")
        await asyncio.sleep(0.01)  # the polling period of the measurement


async def measure_latency(target: BenchTarget, config: BenchConfig) -> dict[str, Any]:
    """An idle worker; jobs enqueued at a steady rate, each stamped with its enqueue time; the
    job records when it starts. Percentiles of (start - enqueue), in milliseconds."""
    count = config.latency_jobs
    latencies, done = await _stamped_jobs(
        target, config, count, lambda: _enqueue_paced(target, config), "latency"
    )
    return {
        "jobs": count,
        "rate_per_s": config.latency_rate,
        **percentiles(latencies),
        "max_ms": max(latencies),
        "peak_rss_mb": int(done["peak_rss_kb"]) / 1024,
    }


async def measure_lateness(
    target: BenchTarget, config: BenchConfig, *, seed: int | None = None
) -> dict[str, Any]:
    """Due-time lateness: an idle worker (the system's default polling), ``lateness_jobs`` runs
    enqueued one by one in random order, each due at a random time over ``lateness_spread``
    seconds from ``lateness_lead`` seconds on, scheduled by the system itself (a delay); the job
    records when it starts. Percentiles of (start - due), in milliseconds."""
    count = config.lateness_jobs
    draw = random.Random(seed)
    offsets = [config.lateness_lead + draw.uniform(0, config.lateness_spread) for _ in range(count)]

    async def produce() -> None:
        start = time.monotonic()
        for offset in offsets:
            await target.enqueue_stamped(start + offset, offset - (time.monotonic() - start))

    lateness, _ = await _stamped_jobs(target, config, count, produce, "lateness")
    return {
        "jobs": count,
        "spread_s": config.lateness_spread,
        **percentiles(lateness),
        "max_ms": max(lateness),
        "early_ms": max(0.0, -min(lateness)),
    }


async def measure_herd(
    target: BenchTarget,
    config: BenchConfig,
    *,
    server_cpu: Callable[[], float | None] | None = None,
) -> dict[str, Any]:
    """Herd: ``herd_workers`` idle worker processes (the default setting) on one queue, then
    ``latency_jobs`` single enqueues at ``latency_rate``, each stamped with its enqueue time.
    Pickup percentiles over every worker's jobs, and, with ``server_cpu`` (the server's CPU
    seconds so far), the server's CPU per job over the enqueues: what every idle worker woken
    by every enqueue costs."""
    count = config.latency_jobs
    workers = [target.worker("latency", "default") for _ in range(config.herd_workers)]
    try:
        for worker in workers:
            await worker.wait_event("ready", config.deadline)
        for _ in workers:
            await target.enqueue_stamped(-1.0)  # warm-ups, not counted
        # Idle, as a herd is: zapjobs' workers learn of each other 0.5, 1 and 2 s after starting.
        await asyncio.sleep(config.herd_settle)
        before = server_cpu() if server_cpu is not None else None
        await _enqueue_paced(target, config)
        await _wait_drained(target, workers, 0, config.deadline)
        after = server_cpu() if server_cpu is not None else None
        for worker in workers:
            worker.send("stop")
        done = [await worker.wait_event("done", config.deadline) for worker in workers]
    finally:
        await asyncio.to_thread(_close_all, workers)
    pickups = [float(x) * 1000 for report in done for x in report["latencies"]]
    if len(pickups) < count:
        raise BenchmarkError(f"{target.name} herd: {len(pickups)} of {count} jobs ran")
    figures: dict[str, Any] = {
        "jobs": count,
        "workers": config.herd_workers,
        **percentiles(pickups),
        "max_ms": max(pickups),
    }
    if before is not None and after is not None:
        figures["server_cpu_us_per_job"] = (after - before) * 1e6 / count
    return figures


async def _enqueue_paced(target: BenchTarget, config: BenchConfig) -> None:
    """``latency_jobs`` single enqueues at ``latency_rate``, each stamped with its enqueue time."""
    start = time.monotonic()
    for i in range(config.latency_jobs):
        pause = start + i / config.latency_rate - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)  # pacing the producer, not waiting for a result
        await target.enqueue_stamped(time.monotonic())


async def _stamped_jobs(
    target: BenchTarget,
    config: BenchConfig,
    count: int,
    produce: Callable[[], Awaitable[None]],
    what: str,
) -> tuple[list[float], dict[str, Any]]:
    """An idle latency-mode worker, proved to pick up by a warm-up job; ``produce`` enqueues
    ``count`` stamped jobs. Each job's (start - stamp) in milliseconds, and the worker's report."""
    worker = target.worker("latency", "default", expect=count)
    try:
        await worker.wait_event("ready", config.deadline)
        await target.enqueue_stamped(-1.0)  # the warm-up job: the worker is up and picking
        await worker.wait_event("warm", config.deadline)
        await produce()
        done = await worker.wait_event("done", config.deadline)
    finally:
        await asyncio.to_thread(worker.close)
    values = [float(x) * 1000 for x in done["latencies"]]
    if len(values) < count:
        raise BenchmarkError(f"{target.name} {what}: {len(values)} of {count} jobs ran")
    return values, done


def percentiles(values_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and p99 (linear interpolation between the nearest ranks)."""
    if len(values_ms) == 1:
        only = float(values_ms[0])
        return {"p50_ms": only, "p95_ms": only, "p99_ms": only}
    cuts = statistics.quantiles(values_ms, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p95_ms": cuts[94], "p99_ms": cuts[98]}


def suite_steps(drains: Sequence[Drain], *, latency: bool = True) -> list[str]:
    """The step names of ``run_suite``, in order (a progress bar's total)."""
    steps = ["enqueue_single", drains[0].name, "enqueue_bulk", drains[1].name]
    for drain in drains[2:]:
        steps += [f"enqueue for {drain.name}", drain.name]
    return [*steps, "latency"] if latency else steps


async def run_suite(
    target: BenchTarget,
    config: BenchConfig,
    *,
    drains: Sequence[Drain] = DEFAULT_DRAINS,
    latency: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Every scenario on one fresh installation, in ``suite_steps`` order: the runs enqueued one
    at a time feed the first drain, the bulk ones the second, later drains enqueue in bulk."""
    if len(drains) < 2:
        raise ValueError("run_suite needs at least two drains: one per enqueue scenario")
    results: dict[str, dict[str, Any]] = {}
    for name in suite_steps(drains, latency=latency):
        if progress is not None:
            progress(name)
        if name in ("enqueue_single", "enqueue_bulk"):
            results[name] = await measure_enqueue(target, config, bulk=name == "enqueue_bulk")
        elif name.startswith("enqueue for "):
            await measure_enqueue(target, config, bulk=True)
        elif name == "latency":
            results[name] = await measure_latency(target, config)
        else:
            drain = next(d for d in drains if d.name == name)
            results[name] = await measure_drain(target, config, drain)
    return results
