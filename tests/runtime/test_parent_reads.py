"""Workflow steps that start together read their parents' outputs in one store read
(zapjobs.runtime.parent_reads): a claim of ten steps made twenty statements before."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tests.stores.helpers import T0, at
from zapjobs.models import NewRun, RunOutcome, RunStatus
from zapjobs.runtime.parent_reads import ParentOutputs
from zapjobs.stores.memory import MemoryStore


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[list[int]] = []

    async def parent_outputs(self, run_ids: Sequence[int]) -> dict[int, dict[int, Any]]:
        self.reads.append(list(run_ids))
        return await super().parent_outputs(run_ids)


async def test_steps_starting_together_share_one_read() -> None:
    store = CountingStore()
    [parent] = await store.enqueue([NewRun("a")], now=T0)
    [claimed] = await store.claim("w1", ["default"], ["a"], 1, now=T0)
    done = RunOutcome(parent, "w1", claimed.attempt, RunStatus.SUCCEEDED, output_json='"out"')
    await store.complete([done], now=at(minutes=1))
    steps = await store.enqueue([NewRun("b", parents=(parent,)) for _ in range(10)], now=T0)
    plain = (await store.enqueue([NewRun("b")], now=T0))[0]
    reads = ParentOutputs(store)

    found = await asyncio.gather(*(reads.of(step) for step in [*steps, plain]))

    assert found == [{parent: "out"}] * 10 + [{}]
    assert store.reads == [[*steps, plain]]  # one read for all of them
    assert await reads.of(steps[0]) == {parent: "out"}  # a later step reads on its own
    assert len(store.reads) == 2


async def test_a_failed_read_fails_each_step_that_waited_for_it() -> None:
    class Broken(MemoryStore):
        async def parent_outputs(self, run_ids: Sequence[int]) -> dict[int, dict[int, Any]]:
            raise ConnectionError("database went away")

    reads = ParentOutputs(Broken())
    found = await asyncio.gather(reads.of(1), reads.of(2), return_exceptions=True)
    assert [type(e) for e in found] == [ConnectionError, ConnectionError]
