"""Flow control on SQLite: concurrency caps and rate limits, declared, overridden and enforced
in the claim's write transaction (one writer at a time: the counts and the rate windows cannot
change under it). The arithmetic is zapjobs.core.flow's, as in the memory store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from zapjobs.core.flow import LimitState, budgets, choose_runs, spend
from zapjobs.models import FlowLimit, LimitScope, RateLimit
from zapjobs.stores.sql_flow import declare_params, flow_limit_from_row, override_params
from zapjobs.stores.sqlite import notify, rows
from zapjobs.stores.sqlite.database import Database, Session


class FlowMixin:
    _db: Database

    async def declare_flow_limits(
        self, limits: Sequence[FlowLimit], *, now: datetime | None = None
    ) -> None:
        if not limits:
            return
        columns = declare_params(limits)
        at = rows.now_us(now)
        each = [
            {
                "scope": scope,
                "name": name,
                "cap": cap,
                "rate_count": count,
                "rate_period": period,
                "now": at,
            }
            for scope, name, cap, count, period in zip(*columns.values(), strict=True)
        ]

        def declare(s: Session) -> None:
            for params in each:
                s.execute("declare_flow_limit", params)

        await self._db.write(declare)

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
        params["now"] = rows.now_us(now)
        row = await self._db.write(lambda s: s.one("set_flow_override", params))
        assert row is not None
        if LimitScope(scope) is LimitScope.QUEUE:  # a raised limit may let waiting runs start
            notify.publish(self._db.notify_key, notify.runs_in([name]))
        return flow_limit_from_row(row)

    async def list_flow_limits(self) -> list[FlowLimit]:
        found = await self._db.call(lambda s: s.rows("list_flow_limits"))
        return [flow_limit_from_row(r) for r in found]


def applying(s: Session, queues_json: str, job_types_json: str) -> list[LimitState]:
    """The limits of a claim's job types and queues, with their rate window state."""
    found = s.rows("flow_applying", {"queues": queues_json, "job_types": job_types_json})
    return [LimitState(flow_limit_from_row(r), r["window_index"], r["window_used"]) for r in found]


def running_pairs(s: Session) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for r in s.rows("running_pairs"):
        pairs.extend([(r["job_type"], r["queue"])] * r["n"])
    return pairs


def claim_limited(
    s: Session,
    states: Sequence[LimitState],
    queues: Sequence[str],
    job_types: Sequence[str],
    limit: int,
    at: int,
) -> list[int]:
    """The ids a limited claim takes (in claim order), its starts counted in the windows."""
    now = rows.from_us(at)
    allowed = budgets(states, running_pairs(s), now)
    types = [t for t in job_types if allowed.jobs.get(t, 1) > 0]
    if not types:
        return []
    scan = limit + sum(budget for budget in allowed.jobs.values() if budget < limit)
    candidates: list[tuple[int, str, str]] = []
    for queue in queues:
        wanted = {
            "queue": queue,
            "now": at,
            "job_types": json.dumps(types, ensure_ascii=False),
            "limit": min(scan, allowed.queues.get(queue, scan)),
        }
        found = s.rows("claim_candidates_limited", wanted)
        candidates.extend((r["id"], r["job_type"], r["queue"]) for r in found)
    chosen = choose_runs(
        candidates,
        key=lambda c: (c[1], c[2]),
        job_budgets=allowed.jobs,
        queue_budgets=allowed.queues,
        limit=limit,
    )
    for state in spend(states, ((c[1], c[2]) for c in chosen), now):
        s.execute(
            "flow_spend",
            {
                "scope": state.limit.scope.value,
                "name": state.limit.name,
                "window_index": state.window_index,
                "window_used": state.window_used,
            },
        )
    return [c[0] for c in chosen]


def held_back(
    s: Session, queues_json: str, job_types_json: str, at: int
) -> tuple[frozenset[str], frozenset[str], int | None]:
    """(job types, queues) with no start left now, and when the earliest used-up rate window
    ends (microseconds), for next_due."""
    states = applying(s, queues_json, job_types_json)
    if not states:
        return frozenset(), frozenset(), None
    allowed = budgets(states, running_pairs(s), rows.from_us(at))
    reopens = None if allowed.reopens is None else rows.to_us(allowed.reopens)
    return allowed.held_jobs, allowed.held_queues, reopens
