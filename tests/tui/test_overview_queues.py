"""The Overview's queues panel gives each queue's lag (how long its oldest pending run has
waited) and the runs it finished in the last minute, from a real store, as the Queues view does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.tui.conftest import SIZE, settle
from tests.tui.seed import make_zap
from tests.tui.test_trust import text_of
from zapjobs.clock import FakeClock
from zapjobs.models import NewRun, QueueStats, RunOutcome, RunStatus, Stats
from zapjobs.testing import store_of
from zapjobs_cli.tui.app import make_dashboard
from zapjobs_cli.tui.source import ZapJobsSource


async def test_overview_queues_show_lag_and_the_last_minutes_throughput() -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = FakeClock(start)
    zap = make_zap("memory://", clock=clock)
    await zap.open()
    try:
        store = store_of(zap)
        await store.enqueue([NewRun("email-sender")], now=start)  # waits in "default"
        [done] = await store.enqueue([NewRun("generate-report", queue="low")], now=start)
        [run] = await store.claim("w1", ["low"], ["generate-report"], 1, now=start)
        ended = RunOutcome(run.id, "w1", run.attempt, RunStatus.SUCCEEDED, output_json="{}")
        await store.complete([ended], now=start + timedelta(minutes=2, seconds=30))
        clock.advance(timedelta(minutes=3, seconds=5))
        app = make_dashboard(ZapJobsSource(zap), refresh=3600.0)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            lines = text_of(app.screen.query_one("#queue-counts")).splitlines()
            header = lines[0].split()
            assert header[-2:] == ["lag", "/min"], lines
            rows = {line.split()[0]: line.split() for line in lines[1:] if line.strip()}
            assert rows["default"][-2:] == ["3m05s", "0"], lines
            assert rows["low"][-2:] == ["-", "1"], lines
        assert done == run.id
    finally:
        await zap.close()


async def test_list_queues_builds_on_the_stats_it_is_given() -> None:
    """The Overview reads the counts once: ``list_queues(stats=...)`` takes them as given."""
    start = datetime.now(UTC).replace(microsecond=0)
    zap = make_zap("memory://", clock=FakeClock(start))
    await zap.open()
    try:
        given = Stats(
            pending=7,
            by_queue=(QueueStats("x", pending=7, oldest_due_at=start - timedelta(minutes=1)),),
        )
        [x] = [q for q in await zap.list_queues(stats=given) if q.name == "x"]
        assert (x.pending, x.lag) == (7, timedelta(minutes=1))
        assert "x" not in {q.name for q in await zap.list_queues()}  # the store has no such runs
    finally:
        await zap.close()
