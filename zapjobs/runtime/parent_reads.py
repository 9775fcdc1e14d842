"""Workflow steps read their parents' outputs when they start (never at enqueue: a crash or a
rescue must not lose them). The steps of one claim start together, so their reads are gathered
into one ``Store.parent_outputs`` read: the first step to ask schedules the read for the next
turn of the event loop, and every step that asks before then joins it. Reading once per step
(two statements each) drained runs with one parent at a quarter of the rate of runs without
(bench/workflows.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from zapjobs.stores.base import Store


class ParentOutputs:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._asked: dict[int, asyncio.Future[dict[int, Any]]] = {}
        self._reads: set[asyncio.Task[None]] = set()  # referenced until done

    async def of(self, run_id: int) -> dict[int, Any]:
        """The outputs of ``run_id``'s parents by parent id, in id order ({} if none is left)."""
        loop = asyncio.get_running_loop()
        future = self._asked.get(run_id)
        if future is None:
            if not self._asked:
                loop.call_soon(self._start_read)
            future = self._asked[run_id] = loop.create_future()
        return await future

    def _start_read(self) -> None:
        asked, self._asked = self._asked, {}
        task = asyncio.get_running_loop().create_task(self._read(asked))
        self._reads.add(task)
        task.add_done_callback(self._reads.discard)

    async def _read(self, asked: dict[int, asyncio.Future[dict[int, Any]]]) -> None:
        try:
            found = await self._store.parent_outputs(list(asked))
        except asyncio.CancelledError:
            for future in asked.values():
                future.cancel()
            raise
        except Exception as exc:  # each step fails as its own read would have
            for future in asked.values():
                if not future.done():
                    future.set_exception(exc)
            return
        for run_id, future in asked.items():
            if not future.done():  # a step cancelled meanwhile (shutdown) no longer waits
                future.set_result(found.get(run_id, {}))
