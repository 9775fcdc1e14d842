"""The per-queue view (``ZapJobs.list_queues``), put together from the store's reads. Pure: the
reads and "now" are arguments."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from zapjobs.models import Backlog, FlowLimit, QueueInfo, WorkerInfo, WorkerState


def queue_infos(
    *,
    backlog: Iterable[Backlog],
    paused: Mapping[str, bool],
    limits: Mapping[str, FlowLimit] | None = None,
    workers: Iterable[WorkerInfo],
    finished_last_minute: Mapping[str, int],
    known: Iterable[str],
    now: datetime,
    stale_after_seconds: float,
) -> list[QueueInfo]:
    """One QueueInfo per queue that has unfinished runs, a pause state, a live worker, runs
    finished in the last minute, a limits row (``limits``: cap and rate by queue), or is
    otherwise ``known`` (a job type's queue); by name."""
    limits = limits or {}
    counts: dict[str, list[int]] = {}
    oldest: dict[str, datetime] = {}
    for b in backlog:
        c = counts.setdefault(b.queue, [0, 0, 0, 0])
        c[0] += b.pending
        c[1] += b.scheduled
        c[2] += b.running
        c[3] += b.waiting
        if b.oldest_due_at is not None and (
            b.queue not in oldest or b.oldest_due_at < oldest[b.queue]
        ):
            oldest[b.queue] = b.oldest_due_at
    serving: dict[str, list[str]] = {}
    for w in workers:
        if w.state(now, stale_after_seconds) is WorkerState.ALIVE:
            for queue in w.queues:
                serving.setdefault(queue, []).append(w.id)
    names = {*counts, *paused, *serving, *finished_last_minute, *known, *limits}
    infos = []
    for name in sorted(names):
        pending, scheduled, running, waiting = counts.get(name, (0, 0, 0, 0))
        due = oldest.get(name)
        limit = limits.get(name)
        infos.append(
            QueueInfo(
                name,
                paused=paused.get(name, False),
                pending=pending,
                scheduled=scheduled,
                running=running,
                lag=None if due is None else max(now - due, timedelta(0)),
                workers=tuple(sorted(set(serving.get(name, ())))),
                finished_last_minute=finished_last_minute.get(name, 0),
                max_concurrency=limit.effective_max_concurrency if limit else None,
                rate_limit=limit.effective_rate_limit if limit else None,
                waiting=waiting,
            )
        )
    return infos
