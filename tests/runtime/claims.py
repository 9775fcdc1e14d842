"""Counting the claims of the workers of one process, for the wake-up tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from zapjobs import ZapJobs
from zapjobs.models import JobRun
from zapjobs.testing import store_of


class ClaimCounter:
    """Counts claim calls on the real store (every worker of this process shares it)."""

    def __init__(self, zap: ZapJobs) -> None:
        store = store_of(zap)
        self.calls = 0
        claim: Callable[..., Awaitable[list[JobRun]]] = store.claim

        async def counted(*args: Any, **kwargs: Any) -> list[JobRun]:
            self.calls += 1
            return await claim(*args, **kwargs)

        setattr(store, "claim", counted)  # noqa: B010 (a method of this instance only)
