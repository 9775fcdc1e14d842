"""Prometheus metrics, the optional extra ``zapjobs[metrics]`` (prometheus-client).

Two sources, each with a registry of its own (never the global one of prometheus_client):

- ``WorkerMetrics``: what one worker does, fed by its events and by two hooks where no event
  exists (each claim, each write of outcomes); served from the worker process on
  ``metrics_port`` (``zapjobs worker --metrics-port``).
- ``QueueMetrics``: queue-level gauges read from the database at a scrape (cached for a few
  seconds), through the public ZapJobs reads; served by ``zapjobs metrics``.

Nothing imports this module unless metrics are asked for, and it imports prometheus_client only
when used, so a missing extra is one clear error (``MetricsUnavailableError``).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from types import ModuleType
from typing import TYPE_CHECKING, Any

from zapjobs.errors import ConfigurationError
from zapjobs.events import RunFinished, WorkerEvent
from zapjobs.models import Backlog, FailureCount, JobRun, WorkerInfo, WorkerState

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

    from zapjobs.app import ZapJobs

logger = logging.getLogger("zapjobs.metrics")

INSTALL_HINT = "pip install 'zapjobs[metrics]'"

#: Seconds; a job may run for an hour (the default timeout).
RUN_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
PICKUP_DELAY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 30, 60, 300, 900)
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class MetricsUnavailableError(ConfigurationError):
    """Metrics were asked for but prometheus-client is not installed."""


def prometheus() -> ModuleType:
    """prometheus_client, or the one-line error saying how to install it."""
    try:
        import prometheus_client
        import prometheus_client.core  # the metric families of QueueMetrics
    except ImportError:
        raise MetricsUnavailableError(
            "Prometheus metrics need the prometheus-client package, which is not installed",
            hint=f"install it: {INSTALL_HINT}",
        ) from None
    return prometheus_client


# --- the HTTP endpoint -----------------------------------------------------------------------


class MetricsServer:
    """``/metrics`` of one registry over HTTP, on a thread of its own. The port is bound in the
    constructor, so a port in use fails before anything else starts."""

    def __init__(self, registry: CollectorRegistry, *, host: str, port: int) -> None:
        client = prometheus()
        try:
            self._server, self._thread = client.start_http_server(
                port, addr=host, registry=registry
            )
        except OSError as exc:
            raise _bind_error(exc, host, port) from None
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _bind_error(exc: OSError, host: str, port: int) -> ConfigurationError:
    where = f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return ConfigurationError(
            f"cannot serve metrics on {where}: the port is already in use",
            hint="choose another port, or stop what listens there",
        )
    if exc.errno == errno.EACCES:
        return ConfigurationError(
            f"cannot serve metrics on {where}: permission denied",
            hint="use a port above 1023",
        )
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return ConfigurationError(
            f"cannot serve metrics on {where}: no such address on this host",
            hint="use an address of this host, e.g. 127.0.0.1 or 0.0.0.0",
        )
    return ConfigurationError(f"cannot serve metrics on {where}: {exc.strerror or exc}")


# --- a worker's metrics ----------------------------------------------------------------------


class _Histogram:
    """One histogram series counted in plain lists: ``counts[i]`` is the observations in bucket
    i (the last one is +Inf). Updated on the worker's event loop; a scrape copies it."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # the first bound >= value ("le")
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        counts = list(self.counts)
        cumulative = list(accumulate(counts))
        labels = [*(repr(float(b)) for b in self.bounds), "+Inf"]
        return list(zip(labels, cumulative, strict=True))


class WorkerMetrics:
    """A ``WorkerObserver`` (zapjobs.runtime.events) and a prometheus_client collector.

    The hooks run for every run on the worker's event loop, so they only add to plain dicts and
    lists (a few hundred nanoseconds); the metric families are built at a scrape, on the HTTP
    server's thread, from copies (copying a dict or a list holds the GIL: no torn reads)."""

    def __init__(self) -> None:
        client = prometheus()
        self._finished: dict[tuple[str, str, str], int] = {}  # (job type, queue, outcome)
        self._durations: dict[tuple[str, str], _Histogram] = {}  # (job type, queue)
        self._pickups: dict[tuple[str, str], _Histogram] = {}
        self._writes = _Histogram(WRITE_BUCKETS)
        self._claims = 0
        self._empty_claims = 0
        self._claimed = 0
        self._in_flight: Callable[[], int] = lambda: 0
        self._concurrency = 0
        self._labels: dict[int, tuple[str, str]] = {}  # run id -> (job type, queue), in flight
        self.registry: CollectorRegistry = client.CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    # --- WorkerObserver ----------------------------------------------------------------------
    def attach(self, *, in_flight: Callable[[], int], concurrency: int) -> None:
        self._in_flight = in_flight
        self._concurrency = concurrency

    def event(self, event: WorkerEvent) -> None:
        if isinstance(event, RunFinished):
            key = self._labels.pop(event.run_id, (event.job_type, ""))
            outcome = (*key, event.outcome)
            self._finished[outcome] = self._finished.get(outcome, 0) + 1
            histogram = self._durations.get(key)
            if histogram is None:
                histogram = self._durations[key] = _Histogram(RUN_DURATION_BUCKETS)
            histogram.observe(max(event.duration_seconds, 0.0))

    def claimed(self, requested: int, runs: Sequence[JobRun]) -> None:
        self._claims += 1
        if not runs:
            self._empty_claims += 1
            return
        self._claimed += len(runs)
        for run in runs:
            key = (run.job_type, run.queue)
            self._labels[run.id] = key
            if run.started_at is not None:
                histogram = self._pickups.get(key)
                if histogram is None:
                    histogram = self._pickups[key] = _Histogram(PICKUP_DELAY_BUCKETS)
                histogram.observe(max((run.started_at - run.run_at).total_seconds(), 0.0))

    def outcomes_written(self, seconds: float, outcomes: int) -> None:
        self._writes.observe(max(seconds, 0.0))

    # --- the collector -----------------------------------------------------------------------
    def collect(self) -> Iterator[Any]:
        core = prometheus().core
        finished = core.CounterMetricFamily(
            "zapjobs_runs_finished",
            "Attempts ended, by outcome: succeeded, failed, cancelled, retried (will run again), "
            "requeued (put back by a stopping worker) or snoozed (the job asked to run later).",
            labels=["job_type", "queue", "outcome"],
        )
        for labels, count in sorted(dict(self._finished).items()):
            finished.add_metric(list(labels), count)
        yield finished
        for name, doc, series in (
            ("zapjobs_run_duration_seconds", "How long an attempt ran.", self._durations),
            (
                "zapjobs_run_pickup_delay_seconds",
                "From a run's due time to its claim by this worker.",
                self._pickups,
            ),
        ):
            family = core.HistogramMetricFamily(name, doc, labels=["job_type", "queue"])
            for key, histogram in sorted(dict(series).items()):
                family.add_metric(list(key), histogram.buckets(), histogram.total)
            yield family
        in_flight = self._in_flight()
        for name, doc, number in (
            ("zapjobs_runs_in_flight", "Runs this worker is running now.", in_flight),
            (
                "zapjobs_worker_free_slots",
                "Runs this worker could start now.",
                max(self._concurrency - in_flight, 0),
            ),
        ):
            gauge = core.GaugeMetricFamily(name, doc)
            gauge.add_metric([], number)
            yield gauge
        for name, doc, number in (
            ("zapjobs_claims", "Claim round trips to the store.", self._claims),
            (
                "zapjobs_claims_empty",
                "Claim round trips that found no due run.",
                self._empty_claims,
            ),
            ("zapjobs_runs_claimed", "Runs claimed by this worker.", self._claimed),
        ):
            counter = core.CounterMetricFamily(name, doc)
            counter.add_metric([], number)
            yield counter
        writes = core.HistogramMetricFamily(
            "zapjobs_completion_write_duration_seconds",
            "One store write of a batch of attempt outcomes.",
        )
        writes.add_metric([], self._writes.buckets(), self._writes.total)
        yield writes


def serve_worker_metrics(host: str, port: int) -> tuple[WorkerMetrics, MetricsServer]:
    """A worker's metrics and their endpoint, bound (a port in use raises here)."""
    metrics = WorkerMetrics()
    server = MetricsServer(metrics.registry, host=host, port=port)
    logger.info("serving Prometheus metrics on %s", server.url)
    return metrics, server


# --- queue-level metrics from the database ---------------------------------------------------


@dataclass(frozen=True)
class QueueSnapshot:
    """What ``QueueMetrics`` reports, read once."""

    now: datetime
    backlog: list[Backlog]
    failures: list[FailureCount]
    workers_alive: dict[str, int]
    window: timedelta
    read_seconds: float = 0.0
    queues: list[str] = field(default_factory=list)


def workers_alive_per_queue(
    workers: Sequence[WorkerInfo], now: datetime, stale_after_seconds: float
) -> dict[str, int]:
    alive: Tally[str] = Tally()
    for worker in workers:
        if worker.state(now, stale_after_seconds) is WorkerState.ALIVE:
            alive.update(set(worker.queues))
    return dict(alive)


async def read_queue_snapshot(zap: ZapJobs, window: timedelta) -> QueueSnapshot:
    """One read of the database through the public API: three cheap statements."""
    started = time.monotonic()
    backlog = await zap.backlog()
    failures = await zap.recent_failures(window)
    workers = await zap.list_workers()
    now = zap.now()
    stale = zap.settings.stale_worker_threshold.total_seconds()
    alive = workers_alive_per_queue(workers, now, stale)
    queues = sorted({b.queue for b in backlog} | alive.keys() | {f.queue for f in failures})
    return QueueSnapshot(
        now=now,
        backlog=backlog,
        failures=failures,
        workers_alive=alive,
        window=window,
        read_seconds=time.monotonic() - started,
        queues=queues,
    )


class QueueMetrics:
    """A prometheus_client collector: at a scrape (on the HTTP server's thread) it asks the
    event loop that owns the ZapJobs for a fresh snapshot, unless the last one is younger than
    ``max_age`` seconds. A failed read reports ``zapjobs_exporter_up 0`` and nothing else."""

    def __init__(
        self,
        zap: ZapJobs,
        loop: asyncio.AbstractEventLoop,
        *,
        window: timedelta,
        max_age: float = 5.0,
        timeout: float = 10.0,
    ) -> None:
        self._zap = zap
        self._loop = loop
        self._window = window
        self._max_age = max_age
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cached: tuple[float, QueueSnapshot] | None = None
        self.registry: CollectorRegistry = prometheus().CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def _snapshot(self) -> QueueSnapshot:
        with self._lock:  # concurrent scrapes share one read
            if self._cached is not None and time.monotonic() - self._cached[0] < self._max_age:
                return self._cached[1]
            future = asyncio.run_coroutine_threadsafe(
                read_queue_snapshot(self._zap, self._window), self._loop
            )
            try:
                snapshot = future.result(self._timeout)
            except BaseException:
                future.cancel()
                raise
            self._cached = (time.monotonic(), snapshot)
            return snapshot

    def collect(self) -> Iterator[Any]:
        core = prometheus().core
        up = core.GaugeMetricFamily(
            "zapjobs_exporter_up", "1 when the last read of the database succeeded."
        )
        try:
            snapshot = self._snapshot()
        except Exception as exc:
            logger.warning("could not read the queues: %s", self._zap.describe_error(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from queue_families(snapshot)


def queue_families(snapshot: QueueSnapshot) -> Iterator[Any]:
    """The metric families of one snapshot."""
    core = prometheus().core
    runs = core.GaugeMetricFamily(
        "zapjobs_queue_runs",
        "Unfinished runs by state: pending (due now), scheduled (due later), running, waiting "
        "(for parent runs: not claimable yet).",
        labels=["queue", "job_type", "state"],
    )
    for b in snapshot.backlog:
        for state, count in (("pending", b.pending), ("scheduled", b.scheduled)):
            runs.add_metric([b.queue, b.job_type, state], count)
        runs.add_metric([b.queue, b.job_type, "running"], b.running)
        runs.add_metric([b.queue, b.job_type, "waiting"], b.waiting)
    yield runs
    oldest = core.GaugeMetricFamily(
        "zapjobs_queue_oldest_pending_age_seconds",
        "How long the oldest due run of a queue has waited (0: none waits).",
        labels=["queue"],
    )
    due: dict[str, datetime] = {}
    for b in snapshot.backlog:
        if b.oldest_due_at is not None:
            due[b.queue] = min(due.get(b.queue, b.oldest_due_at), b.oldest_due_at)
    for queue in snapshot.queues:
        age = (snapshot.now - due[queue]).total_seconds() if queue in due else 0.0
        oldest.add_metric([queue], max(age, 0.0))
    yield oldest
    alive = core.GaugeMetricFamily(
        "zapjobs_queue_workers_alive",
        "Workers with a fresh heartbeat that serve the queue (0: no one serves it).",
        labels=["queue"],
    )
    for queue in snapshot.queues:
        alive.add_metric([queue], snapshot.workers_alive.get(queue, 0))
    yield alive
    failures = core.GaugeMetricFamily(
        "zapjobs_queue_recent_failures",
        "Runs that failed for good within the window (zapjobs_queue_failure_window_seconds).",
        labels=["queue", "job_type"],
    )
    for f in snapshot.failures:
        failures.add_metric([f.queue, f.job_type], f.count)
    yield failures
    window = core.GaugeMetricFamily(
        "zapjobs_queue_failure_window_seconds",
        "The window of zapjobs_queue_recent_failures.",
    )
    window.add_metric([], snapshot.window.total_seconds())
    yield window
    read = core.GaugeMetricFamily(
        "zapjobs_exporter_read_duration_seconds", "How long the last read of the database took."
    )
    read.add_metric([], snapshot.read_seconds)
    yield read
