"""Conformance: flow control, global concurrency caps and rate limits (every store).

A cap of N on a job type (or a queue): no claim starts a run of it while N of its runs are
running, whoever claimed them; the runs behind it (other job types) are claimed instead. A rate
limit of N per period: at most N of its runs start in each window of that length (windows from
the Unix epoch). Declared limits come from code or settings; an operator's override wins.
"""

from __future__ import annotations

from datetime import timedelta

from tests.stores.helpers import T0, at, due_in, enqueue_one
from zapjobs.core.flow import CAP_RECHECK
from zapjobs.models import FlowLimit, LimitScope, RateLimit, RunOutcome, RunStatus
from zapjobs.stores import Store

JOB, QUEUE = LimitScope.JOB, LimitScope.QUEUE


def cap(name: str, n: int, scope: LimitScope = JOB) -> FlowLimit:
    return FlowLimit(scope, name, max_concurrency=n)


def rate(name: str, count: int, period: int = 1, scope: LimitScope = JOB) -> FlowLimit:
    return FlowLimit(scope, name, rate_limit=RateLimit(count, period))


async def enqueue_many(store: Store, job_type: str, n: int, *, queue: str = "default") -> list[int]:
    return [await enqueue_one(store, job_type, queue=queue) for _ in range(n)]


async def claim_ids(
    store: Store,
    job_types: list[str],
    limit: int = 10,
    *,
    worker: str = "w1",
    queues: list[str] | None = None,
    now=T0,  # type: ignore[no-untyped-def]
) -> list[int]:
    claimed = await store.claim(worker, queues or ["default"], job_types, limit, now=now)
    return [r.id for r in claimed]


async def succeed(store: Store, run_id: int, worker: str = "w1") -> None:
    outcome = RunOutcome(run_id, worker, 1, RunStatus.SUCCEEDED, output_json="null")
    assert await store.complete([outcome], now=T0) == [run_id]


# --- concurrency caps -------------------------------------------------------------------------


async def test_a_capped_job_type_never_has_more_running_than_its_cap(store: Store) -> None:
    await store.declare_flow_limits([cap("report", 2)], now=T0)
    ids = await enqueue_many(store, "report", 5)
    assert await claim_ids(store, ["report"]) == ids[:2]
    # another worker: the cap counts every worker's runs
    assert await claim_ids(store, ["report"], worker="w2") == []
    await succeed(store, ids[0])
    assert await claim_ids(store, ["report"], worker="w2") == [ids[2]]
    assert await claim_ids(store, ["report"]) == []


async def test_a_capped_job_type_does_not_block_the_runs_behind_it(store: Store) -> None:
    await store.declare_flow_limits([cap("report", 1)], now=T0)
    reports = await enqueue_many(store, "report", 4)
    mails = await enqueue_many(store, "mail", 3)
    claimed = await claim_ids(store, ["report", "mail"], 10)
    assert sorted(claimed) == sorted([reports[0], *mails])
    # at its cap, the report runs are skipped entirely
    more = await enqueue_many(store, "mail", 2)
    assert await claim_ids(store, ["report", "mail"], 10) == more


async def test_a_run_going_back_to_pending_frees_its_slot(store: Store) -> None:
    await store.declare_flow_limits([cap("report", 1)], now=T0)
    first, second = await enqueue_many(store, "report", 2)
    assert await claim_ids(store, ["report"]) == [first]
    retry = RunOutcome(
        first, "w1", 1, RunStatus.PENDING, retry_delay=timedelta(hours=1), error=None
    )
    assert await store.complete([retry], now=T0) == [first]
    assert await claim_ids(store, ["report"]) == [second]


async def test_a_queue_cap_counts_every_job_type_of_the_queue(store: Store) -> None:
    await store.declare_flow_limits([cap("mail", 2, QUEUE)], now=T0)
    sends = await enqueue_many(store, "send", 2, queue="mail")
    digests = await enqueue_many(store, "digest", 2, queue="mail")
    images = await enqueue_many(store, "resize", 2, queue="images")
    claimed = await claim_ids(store, ["send", "digest", "resize"], queues=["mail", "images"])
    assert claimed == [*sends, *images]
    assert await claim_ids(store, ["digest"], queues=["mail"], worker="w2") == []
    await succeed(store, sends[0])
    assert await claim_ids(store, ["digest"], queues=["mail"], worker="w2") == digests[:1]


async def test_cap_and_queue_cap_both_hold(store: Store) -> None:
    await store.declare_flow_limits([cap("send", 3), cap("mail", 2, QUEUE)], now=T0)
    await enqueue_many(store, "send", 5, queue="mail")
    assert len(await claim_ids(store, ["send"], queues=["mail"])) == 2


# --- rate limits ------------------------------------------------------------------------------


async def test_a_rate_limit_allows_n_starts_per_window(store: Store) -> None:
    await store.declare_flow_limits([rate("ping", 3)], now=T0)
    ids = await enqueue_many(store, "ping", 8)
    assert await claim_ids(store, ["ping"]) == ids[:3]
    assert await claim_ids(store, ["ping"], worker="w2", now=at(seconds=0.5)) == []
    assert await claim_ids(store, ["ping"], worker="w2", now=at(seconds=1)) == ids[3:6]
    assert await claim_ids(store, ["ping"], now=at(seconds=1.9)) == []
    assert await claim_ids(store, ["ping"], now=at(seconds=2)) == ids[6:8]


async def test_a_rate_limit_counts_starts_not_claims(store: Store) -> None:
    await store.declare_flow_limits([rate("ping", 3, 60)], now=T0)
    assert await claim_ids(store, ["ping"]) == []  # nothing pending: nothing spent
    first = await enqueue_many(store, "ping", 1)
    assert await claim_ids(store, ["ping"], 1) == first
    rest = await enqueue_many(store, "ping", 4)
    assert await claim_ids(store, ["ping"], 10, now=at(seconds=30)) == rest[:2]


async def test_a_rate_limited_type_does_not_block_others(store: Store) -> None:
    await store.declare_flow_limits([rate("ping", 1, 3600)], now=T0)
    pings = await enqueue_many(store, "ping", 3)
    mails = await enqueue_many(store, "mail", 2)
    assert sorted(await claim_ids(store, ["ping", "mail"])) == sorted([pings[0], *mails])


async def test_a_queue_rate_limit_counts_every_job_type_of_the_queue(store: Store) -> None:
    await store.declare_flow_limits([rate("mail", 3, 60, QUEUE)], now=T0)
    sends = await enqueue_many(store, "send", 2, queue="mail")
    digests = await enqueue_many(store, "digest", 2, queue="mail")
    claimed = await claim_ids(store, ["send", "digest"], queues=["mail"])
    assert claimed == [*sends, digests[0]]
    assert await claim_ids(store, ["send", "digest"], queues=["mail"], now=at(minutes=1)) == [
        digests[1]
    ]


# --- when runs held back become due (the fetcher's timer) --------------------------------------


async def test_next_due_of_a_job_type_at_its_cap_is_a_recheck(store: Store) -> None:
    """Runs held by a cap are not due (a claim would find nothing); their workers look again
    after CAP_RECHECK (the run that frees the cap may end on another worker)."""
    await store.declare_flow_limits([cap("report", 1)], now=T0)
    await enqueue_many(store, "report", 2)
    await claim_ids(store, ["report"])
    assert await due_in(store, ["default"], ["report"], now=T0) == CAP_RECHECK
    await enqueue_one(store, "mail", run_at=at(seconds=0.5))
    assert await due_in(store, ["default"], ["report", "mail"], now=T0) == timedelta(seconds=0.5)


async def test_next_due_of_a_used_up_rate_is_when_its_window_ends(store: Store) -> None:
    await store.declare_flow_limits([rate("ping", 2, 60)], now=T0)
    await enqueue_many(store, "ping", 3)
    assert len(await claim_ids(store, ["ping"], now=at(seconds=15))) == 2
    assert await due_in(store, ["default"], ["ping"], now=at(seconds=15)) == timedelta(seconds=45)


async def test_next_due_leaves_out_a_queue_at_its_cap(store: Store) -> None:
    await store.declare_flow_limits([cap("mail", 1, QUEUE)], now=T0)
    await enqueue_many(store, "send", 2, queue="mail")
    await claim_ids(store, ["send"], queues=["mail"])
    assert await due_in(store, ["mail"], ["send"], now=T0) == CAP_RECHECK
    await enqueue_one(store, "send", queue="other")
    assert await due_in(store, ["mail", "other"], ["send"], now=T0) == timedelta(0)


# --- declared limits and overrides ------------------------------------------------------------


async def test_an_unlimited_declaration_creates_no_row(store: Store) -> None:
    await store.declare_flow_limits([FlowLimit(JOB, "plain")], now=T0)
    assert await store.list_flow_limits() == []


async def test_declaring_again_replaces_and_clears_declared_limits(store: Store) -> None:
    await store.declare_flow_limits([cap("report", 1), rate("mail", 5, 60, QUEUE)], now=T0)
    assert await store.list_flow_limits() == [
        FlowLimit(JOB, "report", max_concurrency=1),
        FlowLimit(QUEUE, "mail", rate_limit=RateLimit(5, 60)),
    ]
    await store.declare_flow_limits([FlowLimit(JOB, "report")], now=T0)
    ids = await enqueue_many(store, "report", 3)
    assert await claim_ids(store, ["report"]) == ids  # no longer capped


async def test_an_override_wins_over_the_declared_cap_and_clearing_it_restores(
    store: Store,
) -> None:
    await store.declare_flow_limits([cap("report", 1)], now=T0)
    changed = await store.set_flow_override(
        JOB, "report", max_concurrency=3, rate_limit=None, now=T0
    )
    assert changed == FlowLimit(JOB, "report", max_concurrency=1, max_concurrency_override=3)
    ids = await enqueue_many(store, "report", 5)
    assert await claim_ids(store, ["report"]) == ids[:3]
    await store.set_flow_override(JOB, "report", max_concurrency=None, rate_limit=None, now=T0)
    for run_id in ids[:2]:
        await succeed(store, run_id)
    assert await claim_ids(store, ["report"]) == []  # back to the declared cap of 1, 1 running


async def test_an_override_limits_an_undeclared_job_type(store: Store) -> None:
    await store.set_flow_override(
        JOB, "ping", max_concurrency=None, rate_limit=RateLimit(2, 3600), now=T0
    )
    [limit] = await store.list_flow_limits()
    assert limit.effective_rate_limit == RateLimit(2, 3600)
    ids = await enqueue_many(store, "ping", 3)
    assert await claim_ids(store, ["ping"]) == ids[:2]


async def test_a_declaration_keeps_the_operators_override(store: Store) -> None:
    await store.set_flow_override(JOB, "report", max_concurrency=2, rate_limit=None, now=T0)
    await store.declare_flow_limits([cap("report", 5)], now=T0)
    [limit] = await store.list_flow_limits()
    assert limit == FlowLimit(JOB, "report", max_concurrency=5, max_concurrency_override=2)
