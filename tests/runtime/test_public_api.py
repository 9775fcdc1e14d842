"""The public API the CLI is a user of: one worker by id, the server version, the backend,
recurring from JSON, settings changes, the job type of a reference; lists refuse a bare string;
one exception type per kind of mistake; deprecated names keep working with a warning."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from zapjobs import (
    ConfigurationError,
    JobContext,
    RetryPolicy,
    RunFilter,
    RunStatus,
    Settings,
    UnknownJobTypeError,
    ValidationError,
    WorkerInfo,
    ZapJobs,
)
from zapjobs.config import load_settings
from zapjobs.testing import drain, enqueued, store_of


@dataclass
class Digest:
    to: str
    count: int = 1


def make_app(url: str) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("digest")
    async def digest(ctx: JobContext[Digest]) -> None:
        return None

    return zap


# --- the API the CLI needs, on every store ----------------------------------------------------


async def test_one_worker_by_id_the_server_version_and_the_backend(store_url: str) -> None:
    zap = make_app(store_url)
    try:
        backend = zap.backend
        assert backend == ("postgres" if "=" in store_url else store_url.split(":", 1)[0])
        version = await zap.server_version()  # before open(): the database need not be migrated
        expected = {"postgres": "PostgreSQL ", "sqlite": "SQLite ", "memory": "memory"}[backend]
        assert version.startswith(expected)
        await zap.open()
        now = zap.now()
        for worker_id in ("web-1-1-aa", "web-1-2-bb"):
            await store_of(zap).heartbeat(
                WorkerInfo(worker_id, "web-1", 1, ("default",), now, now, concurrency=3)
            )
        found = await zap.get_worker("web-1-2-bb")
        assert found is not None and (found.id, found.concurrency) == ("web-1-2-bb", 3)
        assert await zap.get_worker("no-such-worker") is None
    finally:
        await zap.close()


async def test_recurring_from_json_is_checked_against_the_declared_type(store_url: str) -> None:
    zap = make_app(store_url)
    try:
        definition = await zap.recurring_json(
            "digest", '{"to": "ops"}', interval=timedelta(hours=1)
        )
        assert definition.schedule is not None
        assert json.loads(definition.schedule.input_json) == {"to": "ops", "count": 1}
        with pytest.raises(ValidationError, match="field 'count'"):
            await zap.recurring_json("digest", '{"to": "ops", "count": "x"}', cron="0 * * * *")
        with pytest.raises(ValidationError, match="not valid JSON"):
            await zap.recurring_json("digest", "{", cron="0 * * * *")
    finally:
        await zap.close()


async def test_pause_schedule_and_resume_schedule(store_url: str) -> None:
    zap = make_app(store_url)
    try:
        await zap.recurring("digest", interval=timedelta(hours=1), input=Digest("ops"))
        paused = await zap.pause_schedule("digest")
        assert paused.schedule_paused is True and paused.enabled is False
        assert (await zap.resume_schedule("digest")).schedule_paused is False
        with pytest.warns(DeprecationWarning, match=r"pause\(\) is deprecated; use pause_sch"):
            assert (await zap.pause("digest")).schedule_paused is True
        with pytest.warns(DeprecationWarning, match=r"resume\(\) is deprecated; use resume_sch"):
            assert (await zap.resume("digest")).schedule_paused is False
    finally:
        await zap.close()


def test_with_settings_keeps_the_job_types_and_the_registration_is_public() -> None:
    zap = make_app("memory://")
    moved = zap.with_settings(Settings(database_url="memory://", default_queue="other"))
    assert moved.job_types == ["digest"] and moved.settings.default_queue == "other"
    assert moved.registration("digest") is zap.registration("digest")
    assert zap.job_type_id("digest") == "digest"
    with pytest.raises(UnknownJobTypeError):
        zap.registration("nope")
    assert not hasattr(zap, "store") and not hasattr(zap, "registry")


# --- a list never takes a bare string ------------------------------------------------------------


async def test_a_bare_string_of_queues_is_refused(store_url: str) -> None:
    zap = make_app(store_url)
    try:
        await zap.enqueue("digest", Digest("a"), queue="critical")
        with pytest.raises(ValidationError, match="queues must be a list") as info:
            await zap.run_worker(queues="critical", burst=True, install_signal_handlers=False)
        assert "queues=['critical', 'default']" in str(info.value)
        with pytest.raises(ValidationError, match="queues must be a list"):
            await drain(zap, queues="critical")
        assert [r.status for r in await zap.list_runs()] == [RunStatus.PENDING]
        summary = await drain(zap, queues=["critical", "critical"])  # de-duplicated, once
        assert summary.succeeded == 1
    finally:
        await zap.close()


def test_run_filters_and_helpers_refuse_a_bare_string() -> None:
    assert RunFilter(job_types=["a", "b"]).job_types == ("a", "b")
    for field in ("job_types", "queues", "statuses", "ids"):
        with pytest.raises(ValidationError, match=f"{field} must be a list"):
            RunFilter(**{field: "failed"})  # type: ignore[arg-type]


async def test_enqueued_refuses_a_bare_string_of_statuses() -> None:
    zap = make_app("memory://")
    with pytest.raises(ValidationError, match="statuses must be a list"):
        await enqueued(zap, "digest", statuses="pending")  # type: ignore[arg-type]


# --- one exception type per kind of mistake ------------------------------------------------------


async def test_a_wrong_value_passed_to_a_call_is_a_validation_error() -> None:
    zap = make_app("memory://")
    # the same check (a retry budget) in the registry, the overrides and a retry policy
    with pytest.raises(ValidationError, match="max_retries must be a whole number >= 0"):
        zap.job("other", max_retries=-1)(lambda ctx: None)
    with pytest.raises(ValidationError, match="max_retries must be a whole number >= 0"):
        await zap.set_overrides("digest", max_retries=-1, timeout=None)
    with pytest.raises(ValidationError, match="max_retries must be a whole number >= 0"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="backoff_multiplier"):  # still a ValueError too
        RetryPolicy(backoff_multiplier=0.5)
    with pytest.raises(ValidationError, match="invalid delay"):
        await zap.enqueue("digest", Digest("a"), delay="soon")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="invalid queue name"):
        await zap.enqueue("digest", Digest("a"), queue="bad queue")
    with pytest.raises(ValidationError, match="invalid timeout"):
        zap.job("other", timeout="forever")(lambda ctx: None)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="invalid job type id"):
        zap.job("has space")(lambda ctx: None)
    await zap.close()


def test_settings_never_keep_a_bare_string_of_queues() -> None:
    assert Settings(queues="critical").queues == ("critical",)  # type: ignore[arg-type]
    assert Settings(queues="critical,default").queues == ("critical", "default")  # type: ignore[arg-type]


def test_wrong_settings_stay_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="invalid queue name"):
        Settings(default_queue="bad queue")
    with pytest.raises(ConfigurationError, match="invalid polling_interval"):
        Settings().with_changes(polling_interval="soon")


# --- the one name for concurrency ----------------------------------------------------------------


def test_concurrency_is_the_setting_and_worker_count_a_deprecated_alias(tmp_path: Path) -> None:
    assert Settings(concurrency=3).concurrency == 3
    with pytest.warns(DeprecationWarning, match="'worker_count' is deprecated; use 'concurrency'"):
        assert Settings(worker_count=5).concurrency == 5  # type: ignore[call-arg]
    with pytest.warns(DeprecationWarning, match="'worker_count' is deprecated"):
        assert Settings().with_changes(worker_count="6").concurrency == 6
    with pytest.warns(DeprecationWarning, match="'worker_count' is deprecated"):
        assert ZapJobs("memory://", worker_count=7).settings.concurrency == 7
    with pytest.warns(DeprecationWarning, match="'worker_count' is deprecated"):
        assert Settings(concurrency=8).worker_count == 8
    with pytest.warns(DeprecationWarning, match="ZAPJOBS_WORKER_COUNT: the setting 'worker_co"):
        resolved = load_settings(cwd=tmp_path, env={"ZAPJOBS_WORKER_COUNT": "9"})
    assert resolved.settings.concurrency == 9 and resolved.source("concurrency") != "default"
    (tmp_path / "zapjobs.toml").write_text("worker_count = 2\n")
    with pytest.warns(DeprecationWarning, match="zapjobs.toml: the setting 'worker_count'"):
        assert load_settings(cwd=tmp_path, env={}).settings.concurrency == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name wins over the old, and warns of nothing
        both = {"ZAPJOBS_CONCURRENCY": "4", "ZAPJOBS_WORKER_COUNT": "9"}
        (tmp_path / "zapjobs.toml").write_text("concurrency = 2\n")
        assert load_settings(cwd=tmp_path, env=both).settings.concurrency == 4
