"""Flow control code the SQL stores share (zapjobs.core.flow): limits rows to models, models
to parameters, and which claims are known to be limited."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from zapjobs.models import FlowLimit, LimitScope, RateLimit
from zapjobs.stores import decode

#: Statements a limited claim may take: one that finds a limited claim committed after its
#: snapshot claims nothing and is sent again (in practice once or twice under contention).
CLAIM_ATTEMPTS = 20

ClaimKey = tuple[tuple[str, ...], tuple[str, ...]]


def flow_limit_from_row(row: decode.Row) -> FlowLimit:
    def rate(count: int | None, period: int | None) -> RateLimit | None:
        return None if count is None or period is None else RateLimit(count, period)

    return FlowLimit(
        LimitScope(row["scope"]),
        row["name"],
        max_concurrency=row["max_concurrency"],
        rate_limit=rate(row["rate_count"], row["rate_period"]),
        max_concurrency_override=row["max_concurrency_override"],
        rate_limit_override=rate(row["rate_count_override"], row["rate_period_override"]),
    )


def declare_params(limits: Sequence[FlowLimit]) -> dict[str, list[Any]]:
    """Column arrays of declare_flow_limits: the declared values of each job type and queue."""
    return {
        "scopes": [LimitScope(x.scope).value for x in limits],
        "names": [x.name for x in limits],
        "caps": [x.max_concurrency for x in limits],
        "rate_counts": [x.rate_limit.count if x.rate_limit else None for x in limits],
        "rate_periods": [x.rate_limit.period_seconds if x.rate_limit else None for x in limits],
    }


def override_params(
    scope: LimitScope, name: str, max_concurrency: int | None, rate_limit: RateLimit | None
) -> dict[str, Any]:
    return {
        "scope": LimitScope(scope).value,
        "name": name,
        "cap": max_concurrency,
        "rate_count": rate_limit.count if rate_limit else None,
        "rate_period": rate_limit.period_seconds if rate_limit else None,
    }


class LimitedClaims:
    """The (queues, job types) of a store's claims that a limit applied to at their last claim:
    their next claim goes straight to the limited statement (the unlimited one would claim
    nothing and say so). Both statements report whether limits apply, so this follows them."""

    def __init__(self) -> None:
        self._keys: set[ClaimKey] = set()

    def __contains__(self, key: ClaimKey) -> bool:
        return key in self._keys

    def mark(self, key: ClaimKey, limited: bool) -> None:
        if limited:
            self._keys.add(key)
        else:
            self._keys.discard(key)
