"""The per-queue view (``ZapJobs.list_queues``), put together from the store's reads. Pure: the
reads and "now" are arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from zapjobs.models import FlowLimit, QueueInfo, QueueStats, WorkerInfo, WorkerState


def queue_infos(
    *,
    counts: Iterable[QueueStats],
    paused: Mapping[str, bool],
    limits: Mapping[str, FlowLimit] | None = None,
    workers: Iterable[WorkerInfo],
    finished_last_minute: Mapping[str, int],
    known: Iterable[str],
    now: datetime,
    stale_after_seconds: float,
) -> list[QueueInfo]:
    """One QueueInfo per queue that has pending, scheduled, running or waiting runs (``counts``: the
    ``by_queue`` of ``Stats``), a pause state, a live worker, runs finished in the last minute,
    a limits row (``limits``: cap and rate by queue), or is otherwise ``known`` (a job type's
    queue); by name."""
    limits = limits or {}
    by_name = {c.queue: c for c in counts if c.pending or c.scheduled or c.running or c.waiting}
    serving: dict[str, list[str]] = {}
    for w in workers:
        if w.state(now, stale_after_seconds) is WorkerState.ALIVE:
            for queue in w.queues:
                serving.setdefault(queue, []).append(w.id)
    names = {*by_name, *paused, *serving, *finished_last_minute, *known, *limits}
    infos = []
    for name in sorted(names):
        count = by_name.get(name, QueueStats(name))
        due = count.oldest_due_at
        limit = limits.get(name)
        infos.append(
            QueueInfo(
                name,
                paused=paused.get(name, False),
                pending=count.pending,
                scheduled=count.scheduled,
                running=count.running,
                waiting=count.waiting,
                lag=None if due is None else max(now - due, timedelta(0)),
                workers=tuple(sorted(set(serving.get(name, ())))),
                finished_last_minute=finished_last_minute.get(name, 0),
                max_concurrency=limit.effective_max_concurrency if limit else None,
                rate_limit=limit.effective_rate_limit if limit else None,
            )
        )
    return infos
