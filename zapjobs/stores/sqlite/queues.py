"""Queue pause state and per-queue activity on SQLite."""

from __future__ import annotations

from datetime import datetime

from zapjobs.stores.sqlite import notify, rows
from zapjobs.stores.sqlite.database import Database


class QueuesMixin:
    _db: Database

    async def set_queue_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> None:
        params = {"queue": queue, "paused": int(paused), "now": rows.now_us(now)}
        await self._db.write(lambda s: s.execute("set_queue_paused", params))
        if not paused:  # workers of this process claim at once; others at their next poll
            notify.publish(self._db.notify_key, notify.runs_in([queue]))

    async def queue_states(self) -> dict[str, bool]:
        found = await self._db.call(lambda s: s.rows("queue_states"))
        return {r["name"]: bool(r["paused"]) for r in found}

    async def finished_per_queue(
        self, *, since: datetime, now: datetime | None = None
    ) -> dict[str, int]:
        params = {"since": rows.to_us(since), "now": rows.now_us(now)}
        found = await self._db.call(lambda s: s.rows("finished_per_queue", params))
        return {r["queue"]: int(r["n"]) for r in found}
