"""Registering job types: ids, duplicates, decorator and class forms, options, schedules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from zapjobs import (
    CatchUp,
    ConfigurationError,
    Job,
    JobContext,
    RetryPolicy,
    RunStatus,
    ValidationError,
    ZapJobs,
)
from zapjobs.testing import run_inline, store_of


@dataclass
class ReportParams:
    month: str


@dataclass
class ReportResult:
    rows: int


class GenerateReport(Job[ReportParams, ReportResult]):
    job_type_id = "generate-report"
    queue = "low"
    max_retries = 1
    timeout = timedelta(minutes=2)
    instances = 0

    def __init__(self) -> None:
        type(self).instances += 1
        self.seen: list[str] = []

    async def execute(self, ctx: JobContext[ReportParams]) -> ReportResult:
        self.seen.append(ctx.input.month)
        return ReportResult(rows=len(self.seen))


class SyncClassJob(Job[int, int]):
    job_type_id = "sync-class"

    def execute(self, ctx: JobContext[int]) -> int:  # type: ignore[override]
        return ctx.input + 1


def test_the_decorator_returns_the_function_unchanged_and_registered() -> None:
    zap = ZapJobs("memory://")

    async def send(ctx: JobContext[str]) -> None:
        return None

    decorated = zap.job("email-sender", queue="mail", max_retries=5)(send)
    assert decorated is send
    assert zap.job_types == ["email-sender"]
    registered = zap.registration("email-sender")
    assert (registered.queue, registered.max_retries, registered.is_async) == ("mail", 5, True)
    assert (zap.job_type_id(send), zap.registration(send)) == ("email-sender", registered)


@pytest.mark.parametrize("job_type", ["", "has space", "a/b", "x" * 201, "émail"])
def test_invalid_job_type_ids_are_refused(job_type: str) -> None:
    zap = ZapJobs("memory://")
    with pytest.raises(ValidationError, match="invalid job type id"):
        zap.job(job_type)(lambda ctx: None)


def test_valid_job_type_ids_cover_the_documented_alphabet() -> None:
    zap = ZapJobs("memory://")
    zap.job("Aa0_.:-" + "x" * 193)(lambda ctx: None)
    assert len(zap.job_types[0]) == 200


def test_a_duplicate_job_type_is_a_configuration_error() -> None:
    zap = ZapJobs("memory://")
    zap.job("dup")(lambda ctx: None)
    with pytest.raises(ConfigurationError, match="'dup' is already registered"):
        zap.job("dup")(lambda ctx: None)
    zap.add_job(GenerateReport)
    with pytest.raises(ConfigurationError, match="already registered"):
        zap.add_job(GenerateReport)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": "bad queue"}, "invalid queue name"),
        ({"max_retries": -1}, "max_retries must be a whole number"),
        ({"timeout": timedelta(0)}, "timeout must be greater than zero"),
        ({"retry": {"max_retries": 1}}, "retry must be a zapjobs.RetryPolicy"),
        ({"input": {"a": 1}}, "input is only for recurring jobs"),
    ],
)
def test_bad_job_options_are_refused(options: dict[str, object], message: str) -> None:
    zap = ZapJobs("memory://")
    with pytest.raises(ValidationError, match=message):
        zap.job("j", **options)(lambda ctx: None)  # type: ignore[arg-type]


def test_class_jobs_carry_their_attributes_into_the_definition() -> None:
    zap = ZapJobs("memory://")
    assert zap.add_job(GenerateReport) is GenerateReport
    definition = zap.registration("generate-report").definition(zap.settings)
    assert (definition.queue, definition.max_retries, definition.timeout_seconds) == (
        "low",
        1,
        120.0,
    )


def test_defaults_come_from_the_settings_and_the_retry_policy() -> None:
    zap = ZapJobs("memory://", default_queue="general")
    zap.job("a")(lambda ctx: None)
    zap.job("b", retry=RetryPolicy(max_retries=7))(lambda ctx: None)
    a = zap.registration("a").definition(zap.settings)
    b = zap.registration("b").definition(zap.settings)
    assert (a.queue, a.max_retries, a.timeout_seconds) == ("general", 3, None)
    assert b.max_retries == 7


def test_a_class_without_a_job_type_id_is_refused() -> None:
    class Nameless(Job[int, int]):
        async def execute(self, ctx: JobContext[int]) -> int:
            return 0

    with pytest.raises(ValidationError, match="has no job_type_id"):
        ZapJobs("memory://").add_job(Nameless)


async def test_each_attempt_of_a_class_job_gets_a_fresh_instance() -> None:
    zap = ZapJobs("memory://")
    zap.add_job(GenerateReport)
    zap.add_job(SyncClassJob)
    before = GenerateReport.instances
    ids = await zap.enqueue_many(GenerateReport, [ReportParams("2026-01"), {"month": "2026-02"}])
    sync_id = await zap.enqueue(SyncClassJob, 41)
    await zap.run_worker(burst=True, queues=["low", "default"], install_signal_handlers=False)
    runs = await store_of(zap).get_runs([*ids, sync_id])
    assert {r.status for r in runs} == {RunStatus.SUCCEEDED}
    outputs = {r.id: r.output for r in runs}
    assert [outputs[i] for i in ids] == [{"rows": 1}, {"rows": 1}]
    assert outputs[sync_id] == 42
    assert GenerateReport.instances == before + 2
    await zap.close()


async def test_run_inline_runs_a_job_with_the_same_validation() -> None:
    zap = ZapJobs("memory://")
    zap.add_job(GenerateReport)
    result = await run_inline(zap, GenerateReport, {"month": "2026-11"})
    assert result.value == ReportResult(rows=1)
    assert result.output == {"rows": 1}


def test_a_recurring_declaration_builds_its_schedule() -> None:
    zap = ZapJobs("memory://")

    @zap.job("nightly", cron="30 2 * * *", timezone="Europe/Paris", input={"full": True})
    async def nightly(ctx: JobContext[dict[str, bool]]) -> None:
        return None

    @zap.job("ticker", interval=timedelta(seconds=30), catch_up=CatchUp.SKIP)
    async def ticker(ctx: JobContext[None]) -> None:
        return None

    cron = zap.registration("nightly").schedule
    assert cron is not None
    assert (cron.expression, cron.timezone, cron.input_json) == (
        "30 2 * * *",
        "Europe/Paris",
        '{"full":true}',
    )
    interval = zap.registration("ticker").schedule
    assert interval is not None and interval.catch_up is CatchUp.SKIP
