"""The "runs" notifications of a write, built once for the stores that publish them in Python
(SQLite in this process, memory); PostgreSQL builds the same in SQL (queries.sql {notify_due})."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from zapjobs.models import Notification


def runs_notifications(
    pending: Iterable[tuple[str, datetime, int]], now: datetime
) -> list[Notification]:
    """One notification per queue of the (queue, run_at, id) runs that became pending (new,
    retried, rescued, released), in queue order, with ``due_in`` when the earliest of that
    queue's runs is not due yet at ``now``, else with the number of runs due at once and a token
    (their lowest id), so that about as many workers as runs claim."""
    earliest: dict[str, datetime] = {}
    due_now: dict[str, list[int]] = {}
    for queue, run_at, run_id in pending:
        known = earliest.get(queue)
        if known is None or run_at < known:
            earliest[queue] = run_at
        if run_at <= now:
            due_now.setdefault(queue, []).append(run_id)
    found: list[Notification] = []
    for queue, due in sorted(earliest.items()):
        ids = due_now.get(queue, [])
        if due > now:
            found.append(Notification(kind="runs", queue=queue, due_in=due - now))
        else:
            found.append(Notification(kind="runs", queue=queue, count=len(ids), token=min(ids)))
    return found
