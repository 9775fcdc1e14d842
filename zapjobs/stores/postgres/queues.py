"""Queue pause state and per-queue activity on PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from zapjobs.stores.postgres.database import Database


class QueuesMixin:
    _db: Database

    async def set_queue_paused(
        self, queue: str, paused: bool, *, now: datetime | None = None
    ) -> None:
        params = {"queue": queue, "paused": paused, "now": now, "channel": self._db.channel}
        await self._db.fetch("set_queue_paused", params)

    async def queue_states(self) -> dict[str, bool]:
        return {r["name"]: bool(r["paused"]) for r in await self._db.fetch("queue_states")}

    async def finished_per_queue(
        self, *, since: datetime, now: datetime | None = None
    ) -> dict[str, int]:
        found = await self._db.fetch("finished_per_queue", {"since": since, "now": now})
        return {r["queue"]: int(r["n"]) for r in found}
