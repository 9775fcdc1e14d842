"""Writing runs on SQLite: enqueue, claim, outcomes, progress, logs and operator actions.

Every change is one BEGIN IMMEDIATE transaction on the store's thread, so processes sharing the
file take turns: a run is claimed, completed, retried or cancelled by one of them only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from zapjobs.core.unique import superseded_by_newer
from zapjobs.errors import InvalidStateError
from zapjobs.models import (
    CancelledRuns,
    DueRun,
    EnqueueResult,
    JobRun,
    NewLogEntry,
    NewRun,
    NextDue,
    Notification,
    ProgressUpdate,
    RunFilter,
    RunLink,
    RunLinkPage,
    RunOutcome,
    RunStatus,
)
from zapjobs.stores.sql_common import cancelled_runs, check_outcomes, link_page_from_rows
from zapjobs.stores.sqlite import flow, notify, rows, workflows
from zapjobs.stores.sqlite.database import Database, Session
from zapjobs.stores.wakeups import runs_notifications

_FINAL = frozenset(s.value for s in RunStatus if s.is_final)


class RunWritesMixin:
    _db: Database

    async def enqueue(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[int]:
        results = await self.enqueue_results(runs, now=now, connection=connection)
        return [r.run_id for r in results]

    async def enqueue_results(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[EnqueueResult]:
        if not runs:
            return []
        at = rows.now_us(now)
        unique = any(r.unique_key is not None for r in runs)
        params = {"runs": rows.new_runs_param(runs), "now": at}

        released: list[workflows.Released] = []

        def insert(s: Session) -> list[EnqueueResult]:
            ids = sorted(r["id"] for r in s.rows("enqueue_runs", params))
            return [EnqueueResult(i, created=True) for i in ids]

        def insert_with_parents(s: Session) -> list[EnqueueResult]:
            # One run at a time, in order, in one transaction: a child may name an earlier run.
            results: list[EnqueueResult] = []
            for new in runs:
                if new.parents:
                    run_id, pending = workflows.insert_child(s, new, at)
                    released.extend([pending] if pending else [])
                else:
                    one = {"runs": rows.new_runs_param([new]), "now": at}
                    [row] = s.rows("enqueue_runs", one)
                    run_id = row["id"]
                    clock = rows.from_us(at)
                    released.append(
                        (new.queue, clock if new.run_at is None else new.run_at, run_id)
                    )
                results.append(EnqueueResult(run_id, created=True))
            return results

        def insert_unique(s: Session) -> list[EnqueueResult]:
            # One statement per run, in one transaction that holds the write lock: each run sees
            # the ones before it, so a key repeated in the batch is inserted once.
            results: list[EnqueueResult] = []
            for new in runs:
                one = {"runs": rows.new_runs_param([new]), "now": at}
                row = s.one("enqueue_unique_run", one)
                if row is not None:
                    results.append(EnqueueResult(row["id"], created=True))
                    continue
                holder = s.one(
                    "unique_holder_of", {"job_type": new.job_type, "unique_key": new.unique_key}
                )
                if holder is None:  # cannot happen under the write lock; never a silent run
                    raise InvalidStateError(f"no holder of unique key {new.unique_key!r}")
                results.append(EnqueueResult(holder["id"], created=False))
            return results

        write = insert_unique if unique else insert
        if any(new.parents for new in runs):
            write = insert_with_parents
        if connection is None:
            results = await self._db.write(write)
        else:
            # The caller's transaction holds the write lock until it ends, so a worker woken now
            # waits for the commit and then sees the runs (or, after a rollback, none).
            results = self._db.on_connection(connection, write)
        clock = rows.from_us(at)
        pending = [
            (new.queue, clock if new.run_at is None else new.run_at, r.run_id)
            for new, r in zip(runs, results, strict=True)
            if r.created
        ]
        if write is insert_with_parents:
            pending = released
        notify.publish(self._db.notify_key, runs_notifications(pending, clock))
        return results

    async def claim(
        self,
        worker_id: str,
        queues: Sequence[str],
        job_types: Sequence[str],
        limit: int,
        *,
        now: datetime | None = None,
    ) -> list[JobRun]:
        if limit <= 0 or not queues or not job_types:
            return []
        at = rows.now_us(now)
        wanted_queues = list(dict.fromkeys(queues))
        wanted_types = list(dict.fromkeys(job_types))
        job_types_param = json.dumps(wanted_types, ensure_ascii=False)
        queues_param = json.dumps(wanted_queues, ensure_ascii=False)

        def claim(s: Session) -> list[JobRun]:
            picked: list[int] = []
            states = flow.applying(s, queues_param, job_types_param)
            if states:  # a cap or rate limit applies (sqlite/flow.py)
                picked = flow.claim_limited(s, states, wanted_queues, wanted_types, limit, at)
            for queue in [] if states else wanted_queues:
                wanted = {
                    "queue": queue,
                    "now": at,
                    "job_types": job_types_param,
                    "limit": limit - len(picked),
                }
                picked.extend(r["id"] for r in s.rows("claim_candidates", wanted))
                if len(picked) >= limit:
                    break
            if not picked:
                return []
            mark = {"ids": json.dumps(picked), "now": at, "worker_id": worker_id}
            by_id = {r["id"]: rows.run_from_row(r) for r in s.rows("claim_mark", mark)}
            return [by_id[i] for i in picked if i in by_id]

        return await self._db.write(claim)

    async def next_due(
        self,
        queues: Sequence[str],
        job_types: Sequence[str],
        *,
        now: datetime | None = None,
        runs: int = 1,
    ) -> NextDue | None:
        if not queues or not job_types:
            return None
        at = rows.now_us(now)
        wanted_queues = list(dict.fromkeys(queues))
        wanted_types = list(dict.fromkeys(job_types))
        job_types_param = json.dumps(wanted_types, ensure_ascii=False)
        queues_param = json.dumps(wanted_queues, ensure_ascii=False)
        limit = max(runs, 1)

        def earliest(s: Session) -> tuple[int | None, bool, list[tuple[int, int, str]]]:
            held_jobs, held_queues, reopens = flow.held_back(s, queues_param, job_types_param, at)
            types = json.dumps([t for t in wanted_types if t not in held_jobs], ensure_ascii=False)
            found: list[tuple[int, int, str]] = []  # (run_at, id, queue)
            for queue in wanted_queues if types != "[]" else []:  # every job type held
                if queue in held_queues:
                    continue
                for p in s.rows("pending_priorities", {"queue": queue}):
                    wanted = {
                        "queue": queue,
                        "priority": p["priority"],
                        "job_types": types,
                        "runs": limit,
                    }
                    found.extend((r["due"], r["id"], queue) for r in s.rows("next_due", wanted))
            found.sort()
            due = min(
                [x[0] for x in found[:1]] + ([] if reopens is None else [reopens]), default=None
            )
            held = bool(held_jobs or held_queues) or reopens is not None
            return due, held, found[:limit]

        due, held, found = await self._db.call(earliest)
        if due is None:
            return None
        start = rows.from_us(at)
        targets = (
            ()
            if held
            else tuple(DueRun(id=i, queue=q, due_in=rows.from_us(d) - start) for d, i, q in found)
        )
        return NextDue(due_in=rows.from_us(due) - start, runs=targets)

    async def complete(
        self, outcomes: Sequence[RunOutcome], *, now: datetime | None = None
    ) -> list[int]:
        if not outcomes:
            return []
        check_outcomes(outcomes)
        at = rows.now_us(now)
        params = [_outcome_params(o, at) for o in outcomes]

        released: list[workflows.Released] = []

        def complete(s: Session) -> list[Any]:
            done = [r for p in params if (r := s.one("complete_run", p)) is not None]
            ended = [(r["id"], r["status"]) for r in done if r["status"] in _FINAL]
            released.extend(workflows.settle(s, ended, at))
            return done

        changed = await self._db.write(complete)
        retried = [
            (r["queue"], rows.from_us(r["run_at"]), r["id"])
            for r in changed
            if r["status"] == RunStatus.PENDING.value
        ] + released
        if retried:
            notify.publish(self._db.notify_key, runs_notifications(retried, rows.from_us(at)))
        return [r["id"] for r in changed]

    async def save_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        latest = {u.run_id: u.progress for u in updates}
        if not latest:
            return
        params = [
            {
                "id": run_id,
                "total": p.total,
                "processed": p.processed,
                "succeeded": p.succeeded,
                "failed": p.failed,
            }
            for run_id, p in latest.items()
        ]
        await self._db.write(lambda s: s.many("save_progress", params))

    async def append_logs(self, entries: Sequence[NewLogEntry]) -> None:
        if not entries:
            return
        params = [
            {
                "run_id": e.run_id,
                "level": int(e.level),
                "message": e.message,
                "logged_at": rows.to_us(e.logged_at),
                "fields": rows.check_json(e.fields_json, "log fields"),
                "attempt": e.attempt,
            }
            for e in entries
        ]
        await self._db.write(lambda s: s.many("append_log", params))

    async def retry_runs(self, selection: RunFilter, *, now: datetime | None = None) -> list[int]:
        at = rows.now_us(now)
        params = {"now": at, **rows.filter_params(selection, at)}
        variant = rows.drive_variant(selection)

        def retry(s: Session) -> list[Any]:
            keyed = s.rows(f"retry_keyed:{variant}", params)
            superseded = json.dumps(
                superseded_by_newer((r["id"], r["job_type"], r["unique_key"]) for r in keyed)
            )
            found = s.rows(f"retry_runs:{variant}", {**params, "superseded": superseded})
            workflows.rearm(s, [r["id"] for r in found])
            return found

        changed = await self._db.write(retry)
        retried = [(r["queue"], rows.from_us(at), r["id"]) for r in changed]  # due now
        notify.publish(self._db.notify_key, runs_notifications(retried, rows.from_us(at)))
        return sorted(r["id"] for r in changed)

    async def cancel_runs(
        self, selection: RunFilter, *, now: datetime | None = None
    ) -> CancelledRuns:
        at = rows.now_us(now)
        params = {"now": at, **rows.filter_params(selection, at)}
        name = f"cancel_runs:{rows.drive_variant(selection)}"
        released: list[workflows.Released] = []

        def cancel(s: Session) -> list[Any]:
            found = s.rows(name, params)
            ended = [(r["id"], r["status"]) for r in found if r["status"] in _FINAL]
            released.extend(workflows.settle(s, ended, at))
            return found

        changed = await self._db.write(cancel)
        notify.publish(self._db.notify_key, runs_notifications(released, rows.from_us(at)))
        requests = [
            Notification(kind="cancel", queue=r["queue"], run_id=r["id"])
            for r in sorted(changed, key=lambda r: r["id"])
            if r["status"] == RunStatus.RUNNING.value
        ]
        notify.publish(self._db.notify_key, requests)
        return cancelled_runs((r["id"], r["status"]) for r in changed)

    async def run_links(self, run_ids: Sequence[int]) -> list[RunLink]:
        if not run_ids:
            return []
        params = {"ids": json.dumps(list(dict.fromkeys(run_ids)))}
        found = await self._db.call(lambda s: s.rows("run_links", params))
        return [RunLink(r["run_id"], r["parent_id"]) for r in found]

    async def run_link_page(self, run_id: int, limit: int) -> RunLinkPage:
        params = {"id": run_id, "limit": limit}
        found = await self._db.call(lambda s: s.rows("run_link_page", params))
        return link_page_from_rows(found)

    async def parent_outputs(self, run_ids: Sequence[int]) -> dict[int, dict[int, Any]]:
        if not run_ids:
            return {}
        params = {"ids": json.dumps(list(dict.fromkeys(run_ids)))}
        found = await self._db.call(lambda s: s.rows("parent_outputs", params))
        outputs: dict[int, dict[int, Any]] = {}
        for r in found:
            outputs.setdefault(r["run_id"], {})[r["parent_id"]] = rows.DECODERS.opt_json(
                r["output"]
            )
        return outputs

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        params = rows.filter_params(selection, rows.now_us(None))
        name = f"delete_runs:{rows.drive_variant(selection)}"
        deleted = await self._db.write(lambda s: s.rows(name, params))
        return sorted(r["id"] for r in deleted)

    async def wake(self, queue: str) -> None:
        notify.publish(self._db.notify_key, [Notification(kind="runs", queue=queue)])

    async def cancel_requested(self, worker_id: str) -> list[int]:
        found = await self._db.call(lambda s: s.rows("cancel_requested", {"worker_id": worker_id}))
        return [r["id"] for r in found]


def _outcome_params(outcome: RunOutcome, now: int) -> dict[str, Any]:
    error = outcome.error
    output = outcome.output_json
    return {
        "id": outcome.run_id,
        "worker_id": outcome.worker_id,
        "attempt": outcome.attempt,
        "status": RunStatus(outcome.status).value,
        "output": None if output is None else rows.check_json(output, "output"),
        "error_type": error.type if error else None,
        "error_message": error.message if error else None,
        "error_traceback": error.traceback if error else None,
        "retry_at": now + rows.duration_us(outcome.retry_delay or timedelta(0)),
        "snoozed": 1 if outcome.snoozed else 0,
        "now": now,
    }
