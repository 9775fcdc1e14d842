"""Workflows through the public API: after=, chain, group.then, parent_outputs, nesting, bad
input (every store)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from zapjobs import JobContext, RunStatus, ValidationError, ZapJobs
from zapjobs.testing import drain


def make_app(url: str) -> tuple[ZapJobs, dict[str, list[Any]]]:
    zap = ZapJobs(url, auto_migrate=True)
    seen: dict[str, list[Any]] = {"parents": []}

    @zap.job("add")
    def add(ctx: JobContext[int]) -> int:
        return ctx.input + 1

    @zap.job("double")
    def double(ctx: JobContext[int]) -> int:
        return ctx.input * 2

    @zap.job("total")
    def total(ctx: JobContext[list[int]]) -> int:
        seen["parents"].append(ctx.parent_outputs)
        return sum(ctx.input)

    @zap.job("boom", max_retries=0)
    def boom(ctx: JobContext[None]) -> None:
        raise RuntimeError("boom")

    @zap.job("note")
    def note(ctx: JobContext[Any]) -> Any:
        seen["parents"].append(ctx.parent_outputs)
        return ctx.input

    return zap, seen


async def test_after_waits_and_sees_its_parents_outputs(store_url: str) -> None:
    zap, seen = make_app(store_url)
    async with zap:
        first = await zap.enqueue("add", 1)
        second = await zap.enqueue("add", 10)
        child = await zap.enqueue("note", "hi", after=[first, second])
        assert (await zap.get_run(child)).status is RunStatus.WAITING
        await drain(zap)
        run = await zap.get_run(child)
        assert (run.status, run.output) == (RunStatus.SUCCEEDED, "hi")
        assert seen["parents"] == [{first: 2, second: 11}]
        links = await zap.run_links(child)
        assert [r.id for r in links.parents] == [first, second]
        assert [r.id for r in (await zap.run_links(first)).children] == [child]


async def test_a_chain_passes_each_output_to_the_next_step(store_url: str) -> None:
    zap, _ = make_app(store_url)
    async with zap:
        flow = await zap.chain(zap.step("add", 1), "double", zap.step("add"))
        assert len(flow.run_ids) == 3
        await drain(zap)
        last = await zap.get_run(flow.last)
        assert (last.status, last.output) == (RunStatus.SUCCEEDED, 5)  # ((1 + 1) * 2) + 1


async def test_a_group_then_a_callback_gets_every_output_in_order(store_url: str) -> None:
    zap, seen = make_app(store_url)
    async with zap:
        flow = await zap.group([zap.step("add", n) for n in (1, 2, 3)]).then("total")
        await drain(zap)
        callback = await zap.get_run(flow.last)
        assert (callback.status, callback.output) == (RunStatus.SUCCEEDED, 9)
        assert list(seen["parents"][0]) == list(flow.run_ids[:3])


async def test_workflows_nest(store_url: str) -> None:
    zap, _ = make_app(store_url)
    async with zap:
        inner = zap.chain(zap.step("add", 1), "double")  # 4
        flow = await zap.chain(
            zap.step("add", 0),  # 1
            zap.group([zap.step("add"), inner, "double"]).then("total"),  # [2, 4, 2] -> 8
            "double",  # 16
        )
        await drain(zap)
        last = await zap.get_run(flow.last)
        assert (last.status, last.output) == (RunStatus.SUCCEEDED, 16)


async def test_a_failed_step_cancels_the_rest_of_the_chain(store_url: str) -> None:
    zap, _ = make_app(store_url)
    async with zap:
        flow = await zap.chain(zap.step("boom", None), zap.step("add", 1), "double")
        await drain(zap)
        runs = [await zap.get_run(i) for i in flow.run_ids]
        assert [r.status for r in runs] == [
            RunStatus.FAILED,
            RunStatus.CANCELLED,
            RunStatus.CANCELLED,
        ]


async def test_policy_run_runs_the_callback_after_a_failure(store_url: str) -> None:
    zap, _ = make_app(store_url)
    async with zap:
        parent = await zap.enqueue("boom")
        child = await zap.enqueue("note", "after", after=[parent], on_parent_failure="run")
        await drain(zap)
        assert (await zap.get_run(child)).status is RunStatus.SUCCEEDED


async def test_bad_after_arguments_are_refused_and_nothing_is_written(store_url: str) -> None:
    zap, _ = make_app(store_url)
    async with zap:
        with pytest.raises(ValidationError, match="unknown parent run 424242"):
            await zap.enqueue("note", 1, after=[424242])
        with pytest.raises(ValidationError, match="must be a list of run ids"):
            await zap.enqueue("note", 1, after=7)  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="on_parent_failure must be"):
            await zap.enqueue("note", 1, after=[1], on_parent_failure="maybe")
        with pytest.raises(ValidationError, match="at most 1000 parents"):
            await zap.enqueue("note", 1, after=list(range(1, 1002)))
        assert await zap.count_runs() == 0


@pytest.mark.postgres
async def test_a_workflow_in_the_callers_transaction_exists_whole_or_not_at_all(
    pg_url: str,
) -> None:
    zap, _ = make_app(pg_url)
    async with zap:
        async with await psycopg.AsyncConnection.connect(pg_url) as conn:
            flow = zap.chain(zap.step("add", 1), zap.group(["double", "add"]).then("total"))
            await flow.enqueue(connection=conn)
            await conn.rollback()
            assert await zap.count_runs() == 0
            done = await flow.enqueue(connection=conn)
            await conn.commit()
        assert await zap.count_runs() == len(done.run_ids) == 4
        await drain(zap)
        assert (await zap.get_run(done.last)).output == 7  # 1 + 1 = 2, then [2 * 2, 2 + 1]


async def test_run_links_with_a_limit_read_the_first_runs_and_count_the_rest(
    store_url: str,
) -> None:
    zap, _ = make_app(store_url)
    async with zap:
        parents = [await zap.enqueue("add", n) for n in range(3)]
        child = await zap.enqueue("note", None, after=parents)
        siblings = [await zap.enqueue("note", n, after=[parents[0]]) for n in range(2)]
        links = await zap.run_links(child, limit=2)
        assert [r.id for r in links.parents] == parents[:2]
        assert (links.more_parents, links.more_children) == (1, 0)
        first = await zap.run_links(parents[0], limit=1)
        assert [r.id for r in first.children] == [child]
        assert first.more_children == len(siblings)
        whole = await zap.run_links(parents[0])
        assert [r.id for r in whole.children] == [child, *siblings]
        assert whole.more_children == 0
        with pytest.raises(ValidationError):
            await zap.run_links(child, limit=-1)
