"""Conformance: job definitions, operator overrides and recurring schedules (every store)."""

from __future__ import annotations

import pytest

from tests.stores.helpers import T0, at
from zapjobs.errors import UnknownJobTypeError
from zapjobs.models import (
    CatchUp,
    JobDefinition,
    NewRun,
    RunFilter,
    RunStatus,
    Schedule,
    ScheduleKind,
)
from zapjobs.stores import Store

EVERY_MINUTE = Schedule(ScheduleKind.CRON, "* * * * *", timezone="Europe/Berlin")
HOURLY = Schedule(ScheduleKind.CRON, "0 * * * *")
EVERY_30S = Schedule(ScheduleKind.INTERVAL, "30", catch_up=CatchUp.SKIP, input_json='{"n": 1}')


def scheduled_run(job_type: str, due: str | None = None) -> NewRun:
    when = at(minutes=int(due)) if due is not None else T0
    return NewRun(job_type, run_at=when, schedule_due_at=when)


# --- definitions ---------------------------------------------------------------------------------


async def test_register_stores_the_code_declared_part(store: Store) -> None:
    await store.register_definitions(
        [
            JobDefinition("b_job", queue="mail", max_retries=5, timeout_seconds=2.5),
            JobDefinition("a_job", schedule=EVERY_30S),
        ]
    )
    b = await store.get_definition("b_job")
    assert b is not None
    assert (b.queue, b.max_retries, b.timeout_seconds) == ("mail", 5, 2.5)
    assert (b.max_retries_override, b.timeout_seconds_override, b.enabled) == (None, None, True)
    assert b.schedule is None
    a = await store.get_definition("a_job")
    assert a is not None and a.schedule == EVERY_30S
    assert [d.job_type for d in await store.list_definitions()] == ["a_job", "b_job"]


async def test_get_definition_of_an_unknown_type_is_none(store: Store) -> None:
    assert await store.get_definition("nope") is None


async def test_register_again_keeps_overrides_pause_and_due_times(store: Store) -> None:
    await store.register_definitions([JobDefinition("job", max_retries=3, schedule=HOURLY)])
    await store.set_overrides("job", max_retries=9, timeout_seconds=60.0)
    await store.set_enabled("job", False)
    await store.set_schedule("job", HOURLY, at(hours=1))
    await store.register_definitions(
        [JobDefinition("job", queue="other", max_retries=4, timeout_seconds=1.0, schedule=HOURLY)]
    )
    job = await store.get_definition("job")
    assert job is not None
    assert (job.queue, job.max_retries, job.timeout_seconds) == ("other", 4, 1.0)
    assert (job.max_retries_override, job.timeout_seconds_override) == (9, 60.0)
    assert job.enabled is False
    assert job.next_due_at == at(hours=1)


async def test_register_with_a_changed_expression_resets_the_next_due_time(store: Store) -> None:
    await store.register_definitions([JobDefinition("job", schedule=HOURLY)])
    await store.set_schedule("job", HOURLY, at(hours=1))
    await store.register_definitions([JobDefinition("job", schedule=EVERY_MINUTE)])
    job = await store.get_definition("job")
    assert job is not None
    assert job.schedule == EVERY_MINUTE
    assert job.next_due_at is None


async def test_register_without_a_schedule_keeps_the_stored_one(store: Store) -> None:
    await store.register_definitions([JobDefinition("job", schedule=HOURLY)])
    await store.set_schedule("job", HOURLY, at(hours=1))
    await store.register_definitions([JobDefinition("job", max_retries=7)])
    job = await store.get_definition("job")
    assert job is not None
    assert (job.max_retries, job.schedule, job.next_due_at) == (7, HOURLY, at(hours=1))


async def test_overrides_win_over_code_values_until_cleared(store: Store) -> None:
    await store.register_definitions([JobDefinition("job", max_retries=3, timeout_seconds=10.0)])
    job = await store.set_overrides("job", max_retries=0, timeout_seconds=99.0)
    assert (job.effective_max_retries, job.effective_timeout_seconds) == (0, 99.0)
    assert await store.get_definition("job") == job
    cleared = await store.set_overrides("job", max_retries=None, timeout_seconds=None)
    assert (cleared.effective_max_retries, cleared.effective_timeout_seconds) == (3, 10.0)


async def test_set_overrides_creates_a_missing_definition(store: Store) -> None:
    job = await store.set_overrides("new_job", max_retries=1, timeout_seconds=None)
    assert (job.job_type, job.queue, job.max_retries_override) == ("new_job", "default", 1)
    assert await store.get_definition("new_job") == job


async def test_set_enabled_pauses_and_resumes(store: Store) -> None:
    await store.register_definitions([JobDefinition("job")])
    assert (await store.set_enabled("job", False)).enabled is False
    stored = await store.get_definition("job")
    assert stored is not None and stored.enabled is False
    assert (await store.set_enabled("job", True)).enabled is True


async def test_set_enabled_of_an_unknown_type_raises(store: Store) -> None:
    with pytest.raises(UnknownJobTypeError):
        await store.set_enabled("nope", False)


async def test_set_schedule_attaches_and_removes_a_schedule(store: Store) -> None:
    job = await store.set_schedule("job", EVERY_30S, at(seconds=30))
    assert (job.queue, job.schedule, job.next_due_at) == ("default", EVERY_30S, at(seconds=30))
    assert await store.get_definition("job") == job
    removed = await store.set_schedule("job", None, None)
    assert (removed.schedule, removed.next_due_at) == (None, None)


# --- due schedules and firing ---------------------------------------------------------------------


async def test_due_schedules_are_enabled_and_due(store: Store) -> None:
    await store.register_definitions([JobDefinition("plain")])
    await store.set_schedule("due", HOURLY, at(minutes=-1))
    await store.set_schedule("due_exactly", HOURLY, T0)
    await store.set_schedule("never_computed", HOURLY, None)
    await store.set_schedule("later", HOURLY, at(minutes=1))
    await store.set_schedule("paused", HOURLY, at(minutes=-1))
    await store.set_enabled("paused", False)
    due = await store.due_schedules(now=T0)
    assert sorted(d.job_type for d in due) == ["due", "due_exactly", "never_computed"]


async def test_fire_schedule_advances_and_inserts_the_runs(store: Store) -> None:
    await store.set_schedule("job", HOURLY, T0)
    new = NewRun("job", input_json='{"n": 1}', run_at=T0, schedule_due_at=T0)
    ids = await store.fire_schedule("job", T0, at(hours=1), [new])
    assert len(ids) == 1
    job = await store.get_definition("job")
    assert job is not None
    assert (job.next_due_at, job.last_due_at, job.last_run_id) == (at(hours=1), T0, ids[0])
    run = await store.get_run(ids[0])
    assert run is not None
    assert (run.job_type, run.status, run.input) == ("job", RunStatus.PENDING, {"n": 1})
    assert (run.run_at, run.schedule_due_at) == (T0, T0)


async def test_fire_schedule_with_a_stale_expected_time_changes_nothing(store: Store) -> None:
    await store.set_schedule("job", HOURLY, T0)
    assert len(await store.fire_schedule("job", T0, at(hours=1), [scheduled_run("job")])) == 1
    before = await store.get_definition("job")
    late = await store.fire_schedule("job", T0, at(hours=1), [scheduled_run("job", "1")])
    assert late == []
    assert await store.get_definition("job") == before
    assert await store.count_runs(RunFilter(job_types=("job",))) == 1


async def test_fire_schedule_from_an_unset_next_due_time(store: Store) -> None:
    await store.set_schedule("job", HOURLY, None)
    assert len(await store.fire_schedule("job", None, at(hours=1), [scheduled_run("job")])) == 1
    assert await store.fire_schedule("job", None, at(hours=1), [scheduled_run("job")]) == []


async def test_a_due_time_is_enqueued_once_even_when_fired_twice(store: Store) -> None:
    await store.set_schedule("job", HOURLY, T0)
    first = await store.fire_schedule("job", T0, at(hours=1), [scheduled_run("job")])
    second = await store.fire_schedule("job", at(hours=1), at(hours=2), [scheduled_run("job")])
    assert len(first) == 1
    assert second == []
    assert await store.count_runs(RunFilter(job_types=("job",))) == 1
    job = await store.get_definition("job")
    assert job is not None
    assert job.next_due_at == at(hours=2)
    assert job.last_run_id == first[0]


async def test_fire_schedule_without_runs_only_advances(store: Store) -> None:
    await store.set_schedule("job", HOURLY, T0)
    assert await store.fire_schedule("job", T0, at(hours=1), []) == []
    job = await store.get_definition("job")
    assert job is not None
    assert (job.next_due_at, job.last_run_id) == (at(hours=1), None)
    assert await store.count_runs(RunFilter()) == 0


async def test_the_same_due_time_of_another_job_type_is_not_a_duplicate(store: Store) -> None:
    await store.set_schedule("one", HOURLY, T0)
    await store.set_schedule("two", HOURLY, T0)
    assert len(await store.fire_schedule("one", T0, at(hours=1), [scheduled_run("one")])) == 1
    assert len(await store.fire_schedule("two", T0, at(hours=1), [scheduled_run("two")])) == 1
