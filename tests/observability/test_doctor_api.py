"""``ZapJobs.diagnose`` through the public API on the memory store, with a fake clock: the
checklist follows the injected clock, and the server checks say not applicable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zapjobs import Diagnosis, FakeClock, JobContext, Outcome, Verdict, ZapJobs
from zapjobs.testing import drain

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def verdicts(diagnosis: Diagnosis) -> dict[str, Verdict]:
    return {c.name: c.verdict for c in diagnosis.checks}


async def test_diagnose_follows_the_injected_clock_on_the_memory_store() -> None:
    clock = FakeClock(T0)
    zap = ZapJobs("memory://", clock=clock, queues=["default"])

    @zap.job("email")
    async def email(ctx: JobContext[None]) -> None:
        return None

    await zap.enqueue(email)
    await drain(zap)  # a worker ran and stopped: nothing pending, no worker alive
    await zap.schedule(email, delay=timedelta(minutes=5))

    first = await zap.diagnose()
    assert verdicts(first)["workers"] is Verdict.WARNING
    assert verdicts(first)["overdue"] is Verdict.OK
    assert verdicts(first)["queues"] is Verdict.WARNING  # scheduled, nobody serves it
    assert verdicts(first)["notify"] is Verdict.NOT_APPLICABLE
    assert first.outcome() is Outcome.HEALTHY

    clock.advance(timedelta(minutes=7))  # now due for 2 minutes
    later = await zap.diagnose()
    assert verdicts(later)["queues"] is Verdict.PROBLEM
    assert verdicts(later)["overdue"] is Verdict.PROBLEM
    assert later.outcome() is Outcome.FINDINGS
    await zap.close()
