"""The memory store's limits rows (zapjobs.core.flow does the arithmetic of a limited claim),
kept apart from memory.py. The caller holds the store's lock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from zapjobs.core.flow import LimitState
from zapjobs.models import FlowLimit, LimitScope, RateLimit

Key = tuple[LimitScope, str]


class FlowBook:
    def __init__(self) -> None:
        self._rows: dict[Key, LimitState] = {}

    def clear(self) -> None:
        self._rows.clear()

    def declare(self, limits: Sequence[FlowLimit]) -> None:
        for given in limits:
            key = (LimitScope(given.scope), given.name)
            row = self._rows.get(key)
            if row is None:
                if given.max_concurrency is not None or given.rate_limit is not None:
                    self._rows[key] = LimitState(
                        FlowLimit(key[0], key[1], given.max_concurrency, given.rate_limit)
                    )
                continue
            changed = replace(
                row.limit, max_concurrency=given.max_concurrency, rate_limit=given.rate_limit
            )
            self._put(key, row, changed)

    def override(
        self, scope: LimitScope, name: str, max_concurrency: int | None, rate: RateLimit | None
    ) -> FlowLimit:
        key = (scope, name)
        row = self._rows.get(key) or LimitState(FlowLimit(scope, name))
        changed = replace(
            row.limit, max_concurrency_override=max_concurrency, rate_limit_override=rate
        )
        self._rows[key] = LimitState(changed)  # a new count of the window, as in the SQL
        return changed

    def _put(self, key: Key, row: LimitState, limit: FlowLimit) -> None:
        if limit.effective_rate_limit != row.limit.effective_rate_limit:
            self._rows[key] = LimitState(limit)  # a changed rate starts a new count
        else:
            self._rows[key] = replace(row, limit=limit)

    def limits(self) -> list[FlowLimit]:
        return [self._rows[k].limit for k in sorted(self._rows)]

    def applying(self, queues: Iterable[str], job_types: Iterable[str]) -> list[LimitState]:
        keys = [(LimitScope.JOB, t) for t in job_types] + [(LimitScope.QUEUE, q) for q in queues]
        return [r for k in keys if (r := self._rows.get(k)) is not None and r.limit.limited]

    def store(self, states: Iterable[LimitState]) -> None:
        for state in states:
            self._rows[(state.limit.scope, state.limit.name)] = state
