"""Writing runs on PostgreSQL: enqueue, claim, outcomes, progress, logs and operator actions.

Each batch is one statement over unnest()ed arrays: one round trip however many rows.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from zapjobs.errors import InvalidStateError
from zapjobs.models import (
    CancelledRuns,
    EnqueueResult,
    JobRun,
    NewLogEntry,
    NewRun,
    NextDue,
    ProgressUpdate,
    RunFilter,
    RunLink,
    RunLinkPage,
    RunOutcome,
    RunStatus,
)
from zapjobs.stores.postgres import flow, rows, workflows
from zapjobs.stores.postgres.database import Database, run
from zapjobs.stores.sql_common import cancelled_runs, check_outcomes
from zapjobs.stores.sql_flow import LimitedClaims

#: From this many runs on, an enqueue streams them with COPY (two statements in one transaction)
#: instead of one INSERT over unnest()ed arrays. Measured through the store on the bench machine:
#: even at 200 runs per call, about 1.2x at 500 to 1,000, 1.5x at 2,000 to 5,000.
COPY_MIN_RUNS = 500
#: Statements an enqueue with unique keys may take: a run whose key's holder committed after a
#: statement's snapshot, neither inserted nor seeing the holder, is sent again (in practice once).
UNIQUE_ATTEMPTS = 10
#: Rows formatted and sent per write: the server inserts a chunk while the next one is formatted
#: (on two cores, 1,000 runs per call went about 8% faster than in one chunk), and a huge batch
#: never sits in memory twice as text.
COPY_CHUNK_RUNS = 100

#: COPY's text format: a backslash starts an escape; tab, newline and carriage return end a field
#: or a row. A JSON input from the store's own encoder holds none of the last three raw, but a
#: NewRun may carry any JSON text.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(ids: Sequence[int], runs: Sequence[NewRun], clock: datetime) -> str:
    """The rows of copy_runs in COPY's text format (the columns of run_insert_columns), built
    in one pass: formatting them here costs about a quarter of psycopg's per-row write_row()
    (profile of a bulk enqueue)."""
    times: dict[datetime, str] = {}
    words: dict[str, str] = {}

    def time_text(value: datetime | None) -> str:
        if value is None:
            return "\\N"
        found = times.get(value)
        if found is None:
            found = times[value] = value.isoformat()
        return found

    def word(value: str) -> str:
        found = words.get(value)
        if found is None:
            found = words[value] = value.translate(_COPY_ESCAPES)
        return found

    def opt_word(value: str | None) -> str:
        return "\\N" if value is None else word(value)  # a bulk enqueue shares one context

    created = time_text(clock)
    return "".join(
        f"{run_id}\t{word(new.job_type)}\t{word(new.queue)}\t{new.priority}\t"
        f"{new.input_json.translate(_COPY_ESCAPES)}\t"
        f"{created if new.run_at is None else time_text(new.run_at)}\t{created}\t"
        f"{time_text(new.schedule_due_at)}\t{new.max_attempts}\t"
        f"{opt_word(new.trace_context)}\t\\N\t\\N\n"  # no unique key: those go by INSERT
        for run_id, new in zip(ids, runs, strict=True)
    )


class RunWritesMixin:
    _db: Database
    _limited_claims: LimitedClaims
    _flow_grants: flow.Grants

    async def enqueue(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[int]:
        if not runs:
            return []
        if any(new.parents for new in runs):
            return await workflows.enqueue_with_parents(self._db, runs, now, connection)
        if any(new.unique_key is not None for new in runs):
            results = await self._enqueue_unique(runs, now, connection)
            return [r.run_id for r in results]
        if len(runs) >= COPY_MIN_RUNS and connection is None:
            return await self._enqueue_by_copy(runs, now)
        if len(runs) == 1:
            name, params = "enqueue_run", rows.one_run_params(runs[0])
        else:
            name, params = "enqueue_runs", rows.new_run_params(runs)
            params["runs_seq"] = self._db.runs_seq
        params["now"] = now
        params["channel"] = self._db.channel
        if connection is None:
            found = await self._db.fetch(name, params)
        else:
            found = await self._db.fetch_on(connection, name, params)
        return [r["id"] for r in found]

    async def enqueue_results(
        self, runs: Sequence[NewRun], *, now: datetime | None = None, connection: Any = None
    ) -> list[EnqueueResult]:
        if any(new.unique_key is not None for new in runs):
            return await self._enqueue_unique(runs, now, connection)
        ids = await self.enqueue(runs, now=now, connection=connection)
        return [EnqueueResult(run_id, created=True) for run_id in ids]

    async def _enqueue_unique(
        self, runs: Sequence[NewRun], now: datetime | None, connection: Any
    ) -> list[EnqueueResult]:
        """A batch with unique keys, by INSERT whatever its size (COPY has no ON CONFLICT). A
        key repeated in the batch is sent once; its repeats get the first one's result."""
        first: dict[tuple[str, str], int] = {}
        sent: list[NewRun] = []
        slots: list[int] = []  # the index in sent of each run's result
        for new in runs:
            if new.unique_key is not None:
                key = (new.job_type, new.unique_key)
                if key in first:
                    slots.append(first[key])
                    continue
                first[key] = len(sent)
            slots.append(len(sent))
            sent.append(new)
        found: dict[int, EnqueueResult] = {}
        waiting = list(range(len(sent)))
        for _ in range(UNIQUE_ATTEMPTS):
            params = rows.new_run_params([sent[i] for i in waiting])
            params.update(runs_seq=self._db.runs_seq, now=now, channel=self._db.channel)
            if connection is None:
                answer = await self._db.fetch("enqueue_unique_runs", params)
            else:
                answer = await self._db.fetch_on(connection, "enqueue_unique_runs", params)
            unresolved: list[int] = []
            for i, row in zip(waiting, answer, strict=True):
                if row["created"]:
                    found[i] = EnqueueResult(row["id"], created=True)
                elif row["holder"] is not None:
                    found[i] = EnqueueResult(row["holder"], created=False)
                else:
                    unresolved.append(i)
            waiting = unresolved
            if not waiting:
                break
        else:
            raise InvalidStateError(
                f"the holder of unique key {sent[waiting[0]].unique_key!r} changed "
                f"{UNIQUE_ATTEMPTS} times while enqueuing",
                hint="enqueue again",
            )
        results = [found[slot] for slot in slots]
        seen: set[int] = set()
        for index, slot in enumerate(slots):  # a repeat in the batch did not create a run
            if slot in seen:
                results[index] = EnqueueResult(results[index].run_id, created=False)
            seen.add(slot)
        return results

    async def _enqueue_by_copy(self, runs: Sequence[NewRun], now: datetime | None) -> list[int]:
        """Ids drawn (and NOTIFYs queued) first, then the rows streamed with COPY, in one
        transaction."""
        db = self._db
        async with db.connection() as conn, conn.transaction():
            reserve = {
                "runs_seq": db.runs_seq,
                "now": now,
                "count": len(runs),
                "channel": db.channel,
                **_earliest_per_queue(runs),
            }
            [drawn] = await run(conn, db.queries["reserve_run_ids"], reserve)
            ids: list[int] = drawn["ids"]
            clock = drawn["now"]
            async with conn.cursor().copy(db.queries["copy_runs"]) as copy:
                for start in range(0, len(runs), COPY_CHUNK_RUNS):
                    end = start + COPY_CHUNK_RUNS
                    await copy.write(copy_text(ids[start:end], runs[start:end], clock))
        return ids

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
        params = {
            "worker_id": worker_id,
            "queues": list(dict.fromkeys(queues)),
            "job_types": list(dict.fromkeys(job_types)),
            "limit": limit,
            "now": now,
        }
        return await flow.claim(self._db, self._limited_claims, self._flow_grants, params)

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
        params = {
            "queues": list(dict.fromkeys(queues)),
            "job_types": list(dict.fromkeys(job_types)),
            "now": now,
            "runs": max(runs, 1),
            "worker_id": None,  # the slots of every worker's grants count (flow_held)
        }
        return await flow.next_due(self._db, self._limited_claims, params)

    async def complete(
        self, outcomes: Sequence[RunOutcome], *, now: datetime | None = None
    ) -> list[int]:
        if not outcomes:
            return []
        check_outcomes(outcomes)
        worker_id = outcomes[0].worker_id
        if all(
            o.status is RunStatus.SUCCEEDED and o.error is None and o.worker_id == worker_id
            for o in outcomes
        ):
            lean = {
                "now": now,
                "worker_id": worker_id,
                "ids": [o.run_id for o in outcomes],
                "attempts": [o.attempt for o in outcomes],
                "outputs": [o.output_json for o in outcomes],
                "channel": self._db.channel,
            }
            return await self._complete_succeeded(lean)
        errors = [o.error for o in outcomes]
        params = {
            "now": now,
            "ids": [o.run_id for o in outcomes],
            "worker_ids": [o.worker_id for o in outcomes],
            "attempts": [o.attempt for o in outcomes],
            "statuses": [RunStatus(o.status).value for o in outcomes],
            "outputs": [o.output_json for o in outcomes],
            "error_types": [e.type if e else None for e in errors],
            "error_messages": [e.message if e else None for e in errors],
            "error_tracebacks": [e.traceback if e else None for e in errors],
            "retry_delays": [o.retry_delay for o in outcomes],
            "snoozed": [o.snoozed for o in outcomes],
            "channel": self._db.channel,
        }
        found = await workflows.fetch_settling(self._db, "complete_runs", params)
        return [r["id"] for r in found]

    async def _complete_succeeded(self, params: dict[str, Any]) -> list[int]:
        """The usual batch in one short prepared statement (runs that never had a child); the
        rest, if any, through the one that releases children (queries.sql: complete_childless)."""
        lean = await workflows.fetch_settling(self._db, "complete_childless", params)
        ended = {r["id"] for r in lean}
        if len(ended) == len(params["ids"]):
            return list(params["ids"])
        left = [i for i, run_id in enumerate(params["ids"]) if run_id not in ended]
        rest = {
            **params,
            "ids": [params["ids"][i] for i in left],
            "attempts": [params["attempts"][i] for i in left],
            "outputs": [params["outputs"][i] for i in left],
        }
        found = await workflows.fetch_settling(self._db, "complete_succeeded", rest)
        ended.update(r["id"] for r in found)
        return [run_id for run_id in dict.fromkeys(params["ids"]) if run_id in ended]

    async def save_progress(self, updates: Sequence[ProgressUpdate]) -> None:
        latest = {u.run_id: u.progress for u in updates}
        if not latest:
            return
        params = {
            "ids": list(latest),
            "totals": [p.total for p in latest.values()],
            "processed": [p.processed for p in latest.values()],
            "succeeded": [p.succeeded for p in latest.values()],
            "failed": [p.failed for p in latest.values()],
        }
        await self._db.fetch("save_progress", params)

    async def append_logs(self, entries: Sequence[NewLogEntry]) -> None:
        if not entries:
            return
        params = {
            "run_ids": [e.run_id for e in entries],
            "levels": [int(e.level) for e in entries],
            "messages": [e.message for e in entries],
            "logged_ats": [e.logged_at for e in entries],
            "fields": [e.fields_json for e in entries],
            "attempts": [e.attempt for e in entries],
        }
        await self._db.fetch("append_logs", params)

    async def retry_runs(self, selection: RunFilter, *, now: datetime | None = None) -> list[int]:
        params = {"now": now, "channel": self._db.channel, **rows.filter_params(selection, now)}
        return [r["id"] for r in await self._db.fetch("retry_runs", params)]

    async def cancel_runs(
        self, selection: RunFilter, *, now: datetime | None = None
    ) -> CancelledRuns:
        params = {"now": now, "channel": self._db.channel, **rows.filter_params(selection, now)}
        changed = await workflows.fetch_settling(self._db, "cancel_runs", params)
        return cancelled_runs((r["id"], r["status"]) for r in changed)

    async def run_links(self, run_ids: Sequence[int]) -> list[RunLink]:
        return await workflows.run_links(self._db, run_ids)

    async def run_link_page(self, run_id: int, limit: int) -> RunLinkPage:
        return await workflows.run_link_page(self._db, run_id, limit)

    async def parent_outputs(self, run_ids: Sequence[int]) -> dict[int, dict[int, Any]]:
        if not run_ids:
            return {}
        found = await self._db.fetch("parent_outputs", {"ids": list(dict.fromkeys(run_ids))})
        outputs: dict[int, dict[int, Any]] = {}
        for r in found:
            outputs.setdefault(r["run_id"], {})[r["parent_id"]] = rows.DECODERS.opt_json(
                r["output"]
            )
        return outputs

    async def delete_runs(self, selection: RunFilter) -> list[int]:
        params = rows.filter_params(selection, None)
        return [r["id"] for r in await self._db.fetch("delete_runs", params)]

    async def wake(self, queue: str) -> None:
        await self._db.fetch("wake", {"queue": queue, "channel": self._db.channel})

    async def cancel_requested(self, worker_id: str) -> list[int]:
        found = await self._db.fetch("cancel_requested", {"worker_id": worker_id})
        return [r["id"] for r in found]


def _earliest_per_queue(runs: Sequence[NewRun]) -> dict[str, list[Any]]:
    """The queues of a batch with the earliest run_at of each (None: one is due now), the number
    of runs due now (without run_at: this side cannot read the server's clock) and a token, the
    parameters of reserve_run_ids' notifications."""
    earliest: dict[str, datetime | None] = {}
    counts: dict[str, int] = {}
    for new in runs:
        counts[new.queue] = counts.get(new.queue, 0) + (new.run_at is None)
        if new.queue not in earliest:
            earliest[new.queue] = new.run_at
        else:
            known = earliest[new.queue]
            if known is not None and (new.run_at is None or new.run_at < known):
                earliest[new.queue] = new.run_at
    return {
        "queues": list(earliest),
        "due_ats": list(earliest.values()),
        "counts": [counts[q] or None for q in earliest],
        "tokens": [secrets.randbits(62) for _ in earliest],
    }
