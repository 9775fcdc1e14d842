"""Flow control on PostgreSQL: concurrency caps and rate limits, declared, overridden and
enforced in the claim (queries.sql: claim_runs, claim_limited, next_due_limited)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zapjobs.core.flow import CAP_RECHECK
from zapjobs.errors import ZapJobsError
from zapjobs.models import DueRun, FlowLimit, JobRun, LimitScope, NextDue, RateLimit
from zapjobs.stores.postgres import rows
from zapjobs.stores.postgres.database import Database, raced
from zapjobs.stores.sql_flow import (
    CLAIM_ATTEMPTS,
    ClaimKey,
    LimitedClaims,
    declare_params,
    flow_limit_from_row,
    override_params,
)


class FlowMixin:
    _db: Database

    async def declare_flow_limits(
        self, limits: Sequence[FlowLimit], *, now: datetime | None = None
    ) -> None:
        if limits:
            await self._db.fetch("declare_flow_limits", {**declare_params(limits), "now": now})

    async def set_flow_override(
        self,
        scope: LimitScope,
        name: str,
        *,
        max_concurrency: int | None,
        rate_limit: RateLimit | None,
        now: datetime | None = None,
    ) -> FlowLimit:
        params = override_params(scope, name, max_concurrency, rate_limit)
        params.update(now=now, channel=self._db.channel)
        [row] = await self._db.fetch("set_flow_override", params)
        return flow_limit_from_row(row)

    async def list_flow_limits(self) -> list[FlowLimit]:
        return [flow_limit_from_row(r) for r in await self._db.fetch("list_flow_limits")]


#: The marker of claim_limited's flow_race: a limited claim under the same limits committed after
#: the statement's snapshot, so its count of running runs may be short.
FLOW_RACE_MARK = "zapjobs-flow-race"


#: How long a worker claims under a grant before a limited claim sizes its share anew (the
#: other workers' needs change): at most this long on an old share.
GRANT_RENEWAL = 1.0


@dataclass
class _Grant:
    starts: int | None  # starts left in the granted rate windows (None: no rate limit)
    renew_at: float  # time.monotonic()


class Grants:
    """The grants (queries.sql: claim_granted) that this store's claims hold, by worker and claim
    key, with the starts left of each; and one lock per worker, since a grant bounds a worker's
    running runs only while its claims run one at a time."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, ClaimKey], _Grant] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, worker_id: str) -> asyncio.Lock:
        return self._locks.setdefault(worker_id, asyncio.Lock())

    def usable(self, worker_id: str, key: ClaimKey) -> _Grant | None:
        held = self._held.get((worker_id, key))
        if held is None or held.starts == 0 or time.monotonic() >= held.renew_at:
            return None
        return held

    def hold(self, worker_id: str, key: ClaimKey, starts: int | None) -> None:
        self._held[(worker_id, key)] = _Grant(starts, time.monotonic() + GRANT_RENEWAL)

    def drop(self, worker_id: str, key: ClaimKey) -> None:
        self._held.pop((worker_id, key), None)


async def claim(
    db: Database, limited: LimitedClaims, grants: Grants, params: dict[str, Any]
) -> list[JobRun]:
    """The unlimited claim, or the limited one when a limit applies (see claim_limited), or,
    while the worker holds a grant for every limit that applies, the granted one."""
    key: ClaimKey = (tuple(params["queues"]), tuple(params["job_types"]))
    if key not in limited:
        found = await db.fetch("claim_runs", params)
        if not found[0]["limited"]:
            return _claimed(found)
        limited.mark(key, True)
    worker_id: str = params["worker_id"]
    async with grants.lock(worker_id):
        held = grants.usable(worker_id, key)
        if held is not None:
            asked = params["limit"] if held.starts is None else min(params["limit"], held.starts)
            found = await db.fetch("claim_granted", {**params, "limit": asked})
            if found[0]["granted"]:
                runs = _claimed(found)
                if len(runs) < asked:  # the statement gave the grant up
                    grants.drop(worker_id, key)
                elif held.starts is not None:
                    held.starts -= len(runs)
                return runs
            grants.drop(worker_id, key)
            if not found[0]["limited"]:  # no limit applies any more
                limited.mark(key, False)
                return _claimed(await db.fetch("claim_runs", params))
        return await _claim_limited(db, limited, grants, key, params)


def _claimed(found: list[dict[str, Any]]) -> list[JobRun]:
    """The claimed runs of a claim statement's rows (one row with a NULL id: none)."""
    return [rows.claimed_run(r) for r in found if r["id"] is not None]


async def _claim_limited(
    db: Database, limited: LimitedClaims, grants: Grants, key: ClaimKey, params: dict[str, Any]
) -> list[JobRun]:
    worker_id: str = params["worker_id"]
    for _ in range(CLAIM_ATTEMPTS):
        try:
            found = await db.fetch("claim_limited", params)
        except ZapJobsError as error:
            if not raced(error, FLOW_RACE_MARK):
                raise
            continue  # another limited claim committed under the same limits: count again
        first = found[0]
        limited.mark(key, first["limited"])
        if first["granted"]:
            grants.hold(worker_id, key, first["granted_starts"])
        else:
            grants.drop(worker_id, key)
        return _claimed(found)
    return []  # contended throughout: the caller looks again (its next_due says due)


async def next_due(db: Database, limited: LimitedClaims, params: dict[str, Any]) -> NextDue | None:
    key: ClaimKey = (tuple(params["queues"]), tuple(params["job_types"]))
    params = {**params, "cap_recheck": CAP_RECHECK.total_seconds()}
    [row] = await db.fetch("next_due_limited" if key in limited else "next_due", params)
    if row["limited"] and key not in limited:
        [row] = await db.fetch("next_due_limited", params)
    limited.mark(key, row["limited"])
    due_in = row["due_in"]
    if due_in is None:
        return None
    if row["limited"]:  # flow control decides what is due: no run to target
        return NextDue(due_in=timedelta(seconds=due_in))
    runs = tuple(
        DueRun(id=i, queue=q, due_in=timedelta(seconds=d))
        for i, q, d in zip(row["ids"], row["queues"], row["due_ins"], strict=True)
    )
    return NextDue(due_in=timedelta(seconds=due_in), runs=runs)
