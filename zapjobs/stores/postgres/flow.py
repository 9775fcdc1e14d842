"""Flow control on PostgreSQL: concurrency caps and rate limits, declared, overridden and
enforced in the claim (queries.sql: claim_runs, claim_limited, next_due_limited)."""

from __future__ import annotations

from collections.abc import Sequence
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


async def claim(db: Database, limited: LimitedClaims, params: dict[str, Any]) -> list[JobRun]:
    """The unlimited claim, or the limited one when a limit applies (see claim_limited)."""
    key: ClaimKey = (tuple(params["queues"]), tuple(params["job_types"]))
    if key not in limited:
        found = await db.fetch("claim_runs", params)
        if not found[0]["limited"]:
            return [rows.claimed_run(r) for r in found if r["id"] is not None]
        limited.mark(key, True)
    for _ in range(CLAIM_ATTEMPTS):
        try:
            found = await db.fetch("claim_limited", params)
        except ZapJobsError as error:
            if not raced(error, FLOW_RACE_MARK):
                raise
            continue  # another limited claim committed under the same limits: count again
        limited.mark(key, found[0]["limited"])
        return [rows.claimed_run(r) for r in found if r["id"] is not None]
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
