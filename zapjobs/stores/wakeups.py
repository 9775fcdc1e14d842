"""The "runs" notifications of a write, built once for the stores that publish them in Python
(SQLite in this process, memory); PostgreSQL builds the same in SQL (queries.sql {notify})."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from zapjobs.models import Notification


def runs_notifications(
    pending: Iterable[tuple[str, datetime]], now: datetime
) -> list[Notification]:
    """One notification per queue of the (queue, run_at) pairs that became pending, in queue
    order, with ``due_in`` when the earliest of that queue's runs is not due yet at ``now``."""
    earliest: dict[str, datetime] = {}
    for queue, run_at in pending:
        known = earliest.get(queue)
        if known is None or run_at < known:
            earliest[queue] = run_at
    return [
        Notification(kind="runs", queue=queue, due_in=due - now if due > now else None)
        for queue, due in sorted(earliest.items())
    ]
