"""Flow control in the CLI: the options of ``jobs limit`` and ``queues limit``, and how a job
type's or queue's cap and rate limit are shown (text and JSON)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zapjobs import FlowLimit, RateLimit

MaxConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--max-concurrency",
        help="At most this many runs running at once, across every worker (1 or more).",
        show_default=False,
    ),
]
RateLimitOption = Annotated[
    str | None,
    typer.Option(
        "--rate-limit",
        help='At most N starts per period, across every worker: "10/s", "600/m", "1000/h".',
        show_default=False,
    ),
]
ClearOption = Annotated[
    bool,
    typer.Option("--clear", help="Remove the operator's cap and rate limit (the declared stay)."),
]


def merged(
    current: FlowLimit, max_concurrency: int | None, rate_limit: str | None, clear: bool
) -> tuple[int | None, str | RateLimit | None]:
    """The overrides to store: the given ones, the current overrides for those not given, or
    none with ``--clear``."""
    if clear:
        return None, None
    cap = max_concurrency if max_concurrency is not None else current.max_concurrency_override
    rate = rate_limit if rate_limit is not None else current.rate_limit_override
    return cap, rate


def cap_text(declared: int | None, override: int | None) -> str:
    if override is not None:
        code = "none" if declared is None else str(declared)
        return f"{override} (operator override; declared {code})"
    return "-" if declared is None else str(declared)


def rate_text(declared: RateLimit | None, override: RateLimit | None) -> str:
    if override is not None:
        code = "none" if declared is None else str(declared)
        return f"{override} (operator override; declared {code})"
    return "-" if declared is None else str(declared)


def limits_dict(limit: FlowLimit) -> dict[str, Any]:
    def rate(value: RateLimit | None) -> str | None:
        return None if value is None else str(value)

    return {
        "max_concurrency": limit.max_concurrency,
        "rate_limit": rate(limit.rate_limit),
        "max_concurrency_override": limit.max_concurrency_override,
        "rate_limit_override": rate(limit.rate_limit_override),
        "effective_max_concurrency": limit.effective_max_concurrency,
        "effective_rate_limit": rate(limit.effective_rate_limit),
    }


def summary(limit: FlowLimit) -> str:
    """One line: a job type's or queue's cap and rate limit after a change."""
    cap = cap_text(limit.max_concurrency, limit.max_concurrency_override)
    rate = rate_text(limit.rate_limit, limit.rate_limit_override)
    return f"max concurrency {cap}, rate limit {rate}"
