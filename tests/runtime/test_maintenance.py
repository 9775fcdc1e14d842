"""The maintenance service on every store, with explicit times: the scheduler fires each due
time once however many schedulers race, pauses are honoured, a lost worker's run is rescued
once, and retention deletes exactly what is due."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from tests.stores.helpers import T0, at, enqueue_one, finish_one, start_one
from zapjobs.clock import FakeClock
from zapjobs.core.schedule import make_schedule
from zapjobs.errors import StoreError
from zapjobs.models import (
    CatchUp,
    JobDefinition,
    JobRun,
    LogLevel,
    NewLogEntry,
    Page,
    RunFilter,
    RunStatus,
    WorkerInfo,
)
from zapjobs.runtime import maintenance as maintenance_module
from zapjobs.runtime.maintenance import (
    Maintenance,
    Pruned,
    RunsRescued,
    SchedulesFired,
)
from zapjobs.settings import Settings
from zapjobs.stores import Store, create_store

SETTINGS = Settings(
    heartbeat_interval=timedelta(seconds=10),
    stale_worker_threshold=timedelta(minutes=1),
    job_retention=timedelta(days=1),
    log_retention=timedelta(hours=1),
)


def maintenance(store: Store, events: list[object] | None = None, **kwargs: object) -> Maintenance:
    on_event: Callable[[object], None] | None = events.append if events is not None else None
    return Maintenance(
        store,
        SETTINGS,
        clock=None,
        worker_id="m1",
        on_event=on_event,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
async def stores(store: Store, store_url: str) -> AsyncIterator[list[Store]]:
    """Four handles on one database: separate store objects for sqlite and postgres (as separate
    processes would have), the same object for memory."""
    if store_url.startswith("memory"):
        yield [store] * 4
        return
    others = [create_store(store_url) for _ in range(3)]
    for other in others:
        await other.open()
    try:
        yield [store, *others]
    finally:
        for other in others:
            await other.close()


async def runs_of(store: Store, job_type: str) -> list[JobRun]:
    runs = await store.list_runs(RunFilter(job_types=(job_type,)), Page(limit=1000))
    return sorted(runs, key=lambda r: r.id)


# --- scheduler --------------------------------------------------------------------------------
async def test_a_due_schedule_fires_once_and_advances(store: Store) -> None:
    schedule = make_schedule(interval=timedelta(minutes=1), input_json='{"n": 1}')
    await store.set_schedule("tick", schedule, T0)
    events: list[object] = []
    m = maintenance(store, events)

    report = await m.run_once(at(seconds=5))

    [run] = await runs_of(store, "tick")
    assert run.schedule_due_at == T0 and run.run_at == T0 and run.input == {"n": 1}
    assert run.status is RunStatus.PENDING and run.queue == "default"
    definition = await store.get_definition("tick")
    assert definition is not None
    assert definition.next_due_at == at(minutes=1)
    assert definition.last_due_at == T0 and definition.last_run_id == run.id
    assert [f.run_ids for f in report.fired] == [(run.id,)]
    assert report.next_due_at == at(minutes=1)
    assert [e for e in events if isinstance(e, SchedulesFired)] == [SchedulesFired(report.fired)]

    again = await m.run_once(at(seconds=30))  # not due again before T0 + 1 min
    assert again.fired == ()
    assert len(await runs_of(store, "tick")) == 1

    await m.run_once(at(minutes=1))
    assert [r.schedule_due_at for r in await runs_of(store, "tick")] == [T0, at(minutes=1)]


async def test_a_fired_run_carries_its_job_types_retry_budget(store: Store) -> None:
    await store.register_definitions([JobDefinition("tick", max_retries=6)])
    await store.set_schedule("tick", make_schedule(interval=timedelta(minutes=1)), T0)
    await maintenance(store).run_once(at(seconds=5))
    await store.set_overrides("tick", max_retries=1, timeout_seconds=None)
    await maintenance(store).run_once(at(minutes=1))
    assert [r.max_attempts for r in await runs_of(store, "tick")] == [2, 2]  # the override
    await store.set_overrides("tick", max_retries=None, timeout_seconds=None)
    await maintenance(store).run_once(at(minutes=2))
    assert [r.max_attempts for r in await runs_of(store, "tick")] == [7, 7, 7]


async def test_a_new_schedule_is_initialised_without_a_run(store: Store) -> None:
    await store.set_schedule("tick", make_schedule(cron="*/5 * * * *"), None)
    report = await maintenance(store).run_once(at(minutes=7))
    assert await runs_of(store, "tick") == []
    definition = await store.get_definition("tick")
    assert definition is not None and definition.next_due_at == at(minutes=10)
    assert report.next_due_at == at(minutes=10)


async def test_catch_up_after_downtime(store: Store) -> None:
    await store.set_schedule("latest", make_schedule(interval=timedelta(minutes=1)), T0)
    skip = make_schedule(interval=timedelta(minutes=1), catch_up=CatchUp.SKIP)
    await store.set_schedule("skip", skip, T0)

    await maintenance(store).run_once(at(hours=3, seconds=30))

    assert [r.schedule_due_at for r in await runs_of(store, "latest")] == [at(hours=3)]
    assert await runs_of(store, "skip") == []
    for job_type in ("latest", "skip"):
        definition = await store.get_definition(job_type)
        assert definition is not None and definition.next_due_at == at(hours=3, minutes=1)


async def test_racing_schedulers_enqueue_each_due_time_once(stores: list[Store]) -> None:
    await stores[0].set_schedule("tick", make_schedule(cron="* * * * * *"), T0)
    schedulers = [maintenance(s) for s in stores for _ in range(2)]  # 8 schedulers

    for second in range(5):
        now = at(seconds=second)
        await asyncio.gather(*(m.run_once(now) for m in schedulers))

    runs = await runs_of(stores[0], "tick")
    assert [r.schedule_due_at for r in runs] == [at(seconds=s) for s in range(5)]


async def test_a_paused_schedule_fires_nothing_until_resumed(store: Store) -> None:
    await store.set_schedule("tick", make_schedule(interval=timedelta(minutes=1)), T0)
    await store.set_enabled("tick", False)
    m = maintenance(store)

    report = await m.run_once(at(minutes=5, seconds=1))
    assert report.fired == () and report.next_due_at is None
    assert await runs_of(store, "tick") == []
    definition = await store.get_definition("tick")
    assert definition is not None and definition.next_due_at == T0

    await store.set_enabled("tick", True)
    await m.run_once(at(minutes=5, seconds=2))
    assert [r.schedule_due_at for r in await runs_of(store, "tick")] == [at(minutes=5)]


async def test_scheduler_disabled_fires_nothing(store: Store) -> None:
    await store.set_schedule("tick", make_schedule(interval=timedelta(minutes=1)), T0)
    report = await maintenance(store, scheduler=False).run_once(at(minutes=2))
    assert report.fired == ()
    assert await runs_of(store, "tick") == []


# --- stale workers ----------------------------------------------------------------------------
def worker(worker_id: str) -> WorkerInfo:
    return WorkerInfo(
        id=worker_id, host="h", pid=1, queues=("default",), started_at=T0, last_seen_at=T0
    )


async def test_a_lost_run_is_rescued_once_by_many_rescuers(stores: list[Store]) -> None:
    await stores[0].heartbeat(worker("w1"), now=T0)
    await stores[0].heartbeat(worker("alive"), now=T0)
    run_id = await start_one(stores[0], "a", worker_id="w1", now=T0)
    await stores[0].heartbeat(worker("alive"), now=at(minutes=1))
    events: list[object] = []
    rescuers = [maintenance(s, events, scheduler=False) for s in stores for _ in range(2)]

    now = at(minutes=1, seconds=1)  # w1 silent for 61 s > 60 s; "alive" seen 1 s ago
    reports = await asyncio.gather(*(m.run_once(now) for m in rescuers))

    # Exactly once each, not necessarily by the same rescuer: on PostgreSQL (SKIP LOCKED) one
    # may mark w1 dead while another, which skipped w1's locked heartbeat, rescues its run.
    rescued = [e for e in events if isinstance(e, RunsRescued)]
    assert [r for e in rescued for r in e.runs_retried] == [run_id]
    assert [w for e in rescued for w in e.workers_marked_dead] == ["w1"]
    assert sum(len(r.rescued.runs_retried) for r in reports if r.rescued) == 1
    run = await stores[0].get_run(run_id)
    assert run is not None and run.status is RunStatus.PENDING and run.worker_id is None
    assert run.error is not None and run.error.type == "WorkerLost"
    dead = await stores[0].get_worker("w1")
    assert dead is not None and dead.dead_at is not None
    alive = await stores[0].get_worker("alive")
    assert alive is not None and alive.dead_at is None


async def test_rescue_runs_every_heartbeat_interval(store: Store) -> None:
    m = maintenance(store, scheduler=False)
    first = await m.run_once(T0)
    assert first.rescued is not None and first.pruned is not None
    early = await m.run_once(at(seconds=9))
    assert early.rescued is None and early.pruned is None
    late = await m.run_once(at(seconds=10))
    assert late.rescued is not None and late.pruned is None
    assert (await m.run_once(at(minutes=10))).pruned is not None


# --- retention --------------------------------------------------------------------------------
async def test_retention_removes_exactly_what_is_due(store: Store) -> None:
    old_done = await finish_one(store, RunStatus.SUCCEEDED, started=T0, finished=at(hours=1))
    old_failed = await finish_one(store, RunStatus.FAILED, started=T0, finished=at(hours=2))
    recent_done = await finish_one(
        store, RunStatus.SUCCEEDED, started=at(days=1), finished=at(days=1, hours=12)
    )
    old_pending = await enqueue_one(store, now=T0)
    old_running = await start_one(store, "b", worker_id="w1", now=T0)
    await store.heartbeat(worker("w1"), now=at(days=2))  # w1 still alive: its run stays
    await store.append_logs(
        [
            NewLogEntry(recent_done, LogLevel.INFO, "old", logged_at=at(days=1, hours=12)),
            NewLogEntry(recent_done, LogLevel.INFO, "new", logged_at=at(days=2, minutes=-30)),
            NewLogEntry(old_running, LogLevel.INFO, "old", logged_at=at(days=1)),
        ]
    )
    await store.heartbeat(worker("gone"), now=T0)
    await store.worker_stopped("gone", now=T0)
    events: list[object] = []

    report = await maintenance(store, events, scheduler=False).run_once(at(days=2))

    assert report.pruned is not None
    assert report.pruned.runs_deleted == 2
    assert report.pruned.logs_deleted == 2
    assert report.pruned.workers_deleted == 1
    assert [e for e in events if isinstance(e, Pruned)] == [Pruned(2, 2, 1)]
    remaining = {r.id for r in await store.list_runs(RunFilter(), Page(limit=100))}
    assert remaining == {recent_done, old_pending, old_running}
    assert old_done not in remaining and old_failed not in remaining
    assert [log.message for log in await store.list_logs(recent_done)] == ["new"]
    assert await store.list_logs(old_running) == []
    assert await store.get_worker("gone") is None
    assert await store.get_worker("w1") is not None


# --- the loop ---------------------------------------------------------------------------------
class FlakyStore:
    """Delegates to a real store, but its first ``failures`` due_schedules calls fail."""

    def __init__(self, store: Store, failures: int) -> None:
        self._store = store
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def due_schedules(self, now: datetime | None = None) -> list[JobDefinition]:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError("could not connect to postgresql://zap:hunter2@db/prod")
        return await self._store.due_schedules(now)


async def run_loop(m: Maintenance) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(m.run(stop))


async def test_the_loop_fires_as_the_clock_moves_and_stops(store: Store) -> None:
    clock = FakeClock(T0)
    await store.set_schedule("tick", make_schedule(interval=timedelta(minutes=1)), None)
    settings = SETTINGS.with_changes(polling_interval="50ms")
    m = Maintenance(store, settings, clock=clock, worker_id="m1")
    stop, task = await run_loop(m)
    try:
        await wait_until_async(lambda: _next_due(store), at(minutes=1))
        clock.set(at(minutes=1))
        await wait_until_async(lambda: _due_times(store), [at(minutes=1)])
        clock.set(at(minutes=2, seconds=30))
        await wait_until_async(lambda: _due_times(store), [at(minutes=1), at(minutes=2)])
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_the_loop_survives_store_errors_without_leaking_the_password(
    store: Store, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(maintenance_module, "FIRST_BACKOFF", 0.01)
    clock = FakeClock(at(seconds=1))
    await store.set_schedule("tick", make_schedule(interval=timedelta(minutes=1)), T0)
    settings = SETTINGS.with_changes(
        polling_interval="50ms", database_url="postgresql://zap:hunter2@db/prod"
    )
    flaky = FlakyStore(store, failures=3)
    m = Maintenance(flaky, settings, clock=clock, worker_id="m1")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="zapjobs.maintenance"):
        stop, task = await run_loop(m)
        try:
            await wait_until_async(lambda: _due_times(store), [T0])
        finally:
            stop.set()
            await asyncio.wait_for(task, timeout=10)
    assert flaky.failures == 0
    failures = [r.getMessage() for r in caplog.records if "StoreError" in r.getMessage()]
    assert len(failures) == 3
    assert all("zap:***@db" in message for message in failures)
    assert "hunter2" not in caplog.text


async def _next_due(store: Store) -> datetime | None:
    definition = await store.get_definition("tick")
    return definition.next_due_at if definition else None


async def _due_times(store: Store) -> list[datetime | None]:
    return [r.schedule_due_at for r in await runs_of(store, "tick")]


async def wait_until_async(
    probe: Callable[[], Awaitable[object]], expected: object, *, timeout: float = 10.0
) -> None:
    """Poll ``probe`` until it returns ``expected``, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (value := await probe()) != expected:
        if loop.time() > deadline:
            raise AssertionError(f"expected {expected!r} within {timeout}s, last saw {value!r}")
        await asyncio.sleep(0.01)
