"""Workflows on PostgreSQL: enqueueing runs after parents, and running the statements that end
runs (whose release of waiting children may have to start over, see queries.sql:
release_guard).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

from zapjobs.errors import InvalidStateError, ZapJobsError
from zapjobs.models import NewRun, RunLink, RunLinkPage
from zapjobs.stores.base import unknown_parent
from zapjobs.stores.postgres import rows
from zapjobs.stores.postgres.database import DEADLOCK, Database, Rows, raced, run
from zapjobs.stores.sql_common import link_page_from_rows

#: The marker of release_guard: a child was enqueued after the ending statement's snapshot.
RACE_MARK = "zapjobs-workflow-race"
#: The marker of enqueue_child's check of its parents.
UNKNOWN_PARENT_MARK = re.compile(r"zapjobs-unknown-parent (\d+)")
#: Times an ending statement is sent again after a race or a deadlock (in practice once).
SETTLE_ATTEMPTS = 20


async def fetch_settling(db: Database, name: str, params: dict[str, Any]) -> Rows:
    """Run a statement that ends runs (and releases their children), again as long as it
    failed whole because a child was enqueued meanwhile, or in a deadlock between two releases
    touching the same children in different orders."""
    for _ in range(SETTLE_ATTEMPTS):
        try:
            return await db.fetch(name, params)
        except ZapJobsError as error:
            if not raced(error, RACE_MARK):
                raise
    raise InvalidStateError(
        f"{name} met enqueues of children {SETTLE_ATTEMPTS} times in a row", hint="try again"
    )


def child_params(new: NewRun, db: Database, now: datetime | None) -> dict[str, Any]:
    params = rows.one_run_params(new)
    params.update(
        parents=list(new.parents),
        policy=new.on_parent_failure.value,
        input_from=None if new.input_from is None else new.input_from.value,
        runs_seq=db.runs_seq,
        now=now,
        channel=db.channel,
    )
    return params


async def enqueue_with_parents(
    db: Database, runs: Sequence[NewRun], now: datetime | None, connection: Any
) -> list[int]:
    """A batch holding runs with parents: one statement per run (a child's parents may be
    earlier runs of the batch), in one transaction, on the caller's connection if given."""

    async def each(conn: Any, on_caller: bool) -> list[int]:
        ids: list[int] = []
        for new in runs:
            if new.parents:
                name, params = "enqueue_child", child_params(new, db, now)
            else:
                name, params = "enqueue_run", rows.one_run_params(new)
                params.update(runs_seq=db.runs_seq, now=now, channel=db.channel)
            try:
                if on_caller:
                    found = await db.fetch_on(conn, name, params)
                else:
                    found = await run(conn, db.queries[name], params)
            except ZapJobsError as error:
                raise _unknown_parent(error) or error from error
            ids.append(found[0]["id"])
        return ids

    if connection is not None:
        return await each(connection, True)
    for _ in range(SETTLE_ATTEMPTS - 1):
        try:
            return await _in_transaction(db, each)
        except ZapJobsError as error:  # a deadlock with a completion: sent again, whole
            if getattr(error.__cause__, "sqlstate", None) != DEADLOCK:
                raise
    return await _in_transaction(db, each)


async def _in_transaction(
    db: Database, each: Callable[[Any, bool], Awaitable[list[int]]]
) -> list[int]:
    async with db.connection() as conn, conn.transaction():
        try:
            return await each(conn, False)
        except Exception as exc:  # psycopg's errors leave the connection block translated
            known = _unknown_parent(exc)
            if known is not None:
                raise known from exc
            raise


def _unknown_parent(error: BaseException) -> ZapJobsError | None:
    found = UNKNOWN_PARENT_MARK.search(str(error))
    return None if found is None else unknown_parent(int(found.group(1)))


async def run_link_page(db: Database, run_id: int, limit: int) -> RunLinkPage:
    found = await db.fetch("run_link_page", {"id": run_id, "limit": limit})
    return link_page_from_rows(found)


async def run_links(db: Database, run_ids: Sequence[int]) -> list[RunLink]:
    if not run_ids:
        return []
    found = await db.fetch("run_links", {"ids": list(dict.fromkeys(run_ids))})
    return [RunLink(r["run_id"], r["parent_id"]) for r in found]
