"""Jobs that raise what a job should never raise, for ``zapjobs worker --app
tests.badinput.hostile_jobs:zap`` (the database comes from ZAPJOBS_DATABASE_URL).

Each hostile job type fails every attempt and may be tried twice (one immediate retry), so the
test sees both the retry and the final failure; "ok" shows the worker still serves.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from zapjobs import JobContext, RetryPolicy, ZapJobs

#: One retry, at once: attempt 1 fails and is retried, attempt 2 fails for good.
RETRY_ONCE = RetryPolicy(
    max_retries=1, initial_delay=timedelta(0), max_delay=timedelta(0), use_jitter=False
)


class Hostile(BaseException):
    """A job's own BaseException subclass."""


def _raise_keyboard_interrupt() -> None:
    raise KeyboardInterrupt


def _raise_system_exit() -> None:
    raise SystemExit(4)


def _raise_generator_exit() -> None:
    raise GeneratorExit


def _raise_hostile() -> None:
    raise Hostile("a job's own BaseException")


def _raise_cancelled() -> None:
    raise asyncio.CancelledError("raised by the job, not by the worker")


RAISERS = {
    "keyboard-interrupt": _raise_keyboard_interrupt,
    "system-exit": _raise_system_exit,
    "generator-exit": _raise_generator_exit,
    "custom-base-exception": _raise_hostile,
    "own-cancelled-error": _raise_cancelled,
}

#: what each raiser's error is stored as
KINDS = {
    "keyboard-interrupt": "KeyboardInterrupt",
    "system-exit": "SystemExit",
    "generator-exit": "GeneratorExit",
    "custom-base-exception": "tests.badinput.hostile_jobs.Hostile",
    "own-cancelled-error": "asyncio.exceptions.CancelledError",
}
#: job type (an async and a plain ``def`` one per raiser) -> the error type stored on its run
HOSTILE = {f"{name}-{kind}": KINDS[name] for name in RAISERS for kind in ("async", "sync")}
HOSTILE["generator-exit-from-a-future"] = "GeneratorExit"
HOSTILE["cancels-its-own-task"] = "asyncio.exceptions.CancelledError"


def register(zap: ZapJobs) -> ZapJobs:
    for name, raiser in RAISERS.items():

        async def async_job(ctx: JobContext[Any], raiser: Any = raiser) -> None:
            await asyncio.sleep(0)
            raiser()

        def sync_job(ctx: JobContext[Any], raiser: Any = raiser) -> None:
            raiser()

        zap.job(f"{name}-async", retry=RETRY_ONCE)(async_job)
        zap.job(f"{name}-sync", retry=RETRY_ONCE)(sync_job)

    @zap.job("generator-exit-from-a-future", retry=RETRY_ONCE)
    async def generator_exit_from_a_future(ctx: JobContext[Any]) -> None:
        """asyncio throws this one into the task, past the executor's own try."""
        future = asyncio.get_running_loop().create_future()
        future.set_exception(GeneratorExit())
        await future

    @zap.job("cancels-its-own-task", retry=RETRY_ONCE)
    async def cancels_its_own_task(ctx: JobContext[Any]) -> None:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        await asyncio.sleep(1)

    @zap.job("ok")
    async def ok(ctx: JobContext[int]) -> int:
        return ctx.input

    return zap


zap = register(ZapJobs())
