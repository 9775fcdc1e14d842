"""Workflows on SQLite: runs enqueued after parents, and what a run ending does to the runs
waiting for it. Every function runs inside the write transaction that ends the parent (SQLite
has one writer at a time), so a release happens once and with its parent's end.

The rules are the memory store's (memory_workflows.py), step by step in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from zapjobs.models import NewRun, ParentFailure, RunStatus
from zapjobs.stores.base import unknown_parent
from zapjobs.stores.sqlite import rows
from zapjobs.stores.sqlite.database import Session

_FINAL = frozenset(s.value for s in RunStatus if s.is_final)
_BAD = frozenset({RunStatus.FAILED.value, RunStatus.CANCELLED.value})

#: A run that became pending: (queue, due time, id), as runs_notifications takes them.
Released = tuple[str, datetime, int]


def insert_child(s: Session, new: NewRun, now: int) -> tuple[int, Released | None]:
    """Insert a run with parents, waiting, pending or (a parent failed, policy 'cancel')
    cancelled; refuse an unknown parent (the caller's transaction then writes nothing)."""
    found = {
        r["id"]: r["status"] for r in s.rows("parent_states", {"ids": json.dumps(new.parents)})
    }
    for parent in new.parents:
        if parent not in found:
            raise unknown_parent(parent)
    open_parents = sum(status not in _FINAL for status in found.values())
    bad = [p for p in new.parents if found[p] in _BAD]
    cancel = bool(bad) and new.on_parent_failure is ParentFailure.CANCEL
    if cancel:
        status = RunStatus.CANCELLED
    else:
        status = RunStatus.WAITING if open_parents else RunStatus.PENDING
    params: dict[str, Any] = {
        "job_type": new.job_type,
        "queue": new.queue,
        "priority": new.priority,
        "input": rows.check_json(new.input_json, "input"),
        "run_at": rows.opt_us(new.run_at),
        "now": now,
        "max_attempts": new.max_attempts,
        "trace_context": new.trace_context,
        "status": status.value,
        "parents_left": open_parents,
        "policy": new.on_parent_failure.value,
        "cancelled_by": min(bad) if cancel else None,
        "finished_at": now if cancel else None,
        "input_from": None if new.input_from is None else new.input_from.value,
    }
    row = s.one("enqueue_child", params)
    assert row is not None  # an INSERT ... VALUES returns its row
    for parent in new.parents:
        edge = {"run_id": row["id"], "parent_id": parent, "done": found[parent] in _FINAL}
        s.execute("add_parent", edge)
    pending = status is RunStatus.PENDING
    return row["id"], (row["queue"], rows.from_us(row["run_at"]), row["id"]) if pending else None


def settle(s: Session, ended: Iterable[tuple[int, str]], now: int) -> list[Released]:
    """Apply the end of each (id, final status) to the runs waiting for it, transitively (a
    run it cancels has ended too); the runs that became pending."""
    released: list[Released] = []
    todo = list(ended)
    while todo:
        parent_id, parent_status = todo.pop(0)
        for edge in s.rows("child_edges", {"parent_id": parent_id}):
            if edge["done"]:
                continue
            child = edge["run_id"]
            s.execute("set_edge_done", {"run_id": child, "parent_id": parent_id, "done": 1})
            if edge["status"] != RunStatus.WAITING.value:
                continue
            if parent_status in _BAD and edge["on_parent_failure"] == ParentFailure.CANCEL.value:
                s.execute("cancel_waiting", {"id": child, "cause": parent_id, "now": now})
                todo.append((child, RunStatus.CANCELLED.value))
                continue
            row = s.one("release_one", {"id": child, "now": now})
            if row is not None and row["status"] == RunStatus.PENDING.value:
                released.append((row["queue"], rows.from_us(row["run_at"]), row["id"]))
    return released


def rearm(s: Session, retried: Iterable[int]) -> None:
    """Runs unfinished again (retried): the dependents they cancelled wait again, transitively,
    unless another parent of theirs failed or was cancelled on its own; a dependent still
    waiting waits for them again."""
    todo = list(retried)
    again = set(todo)
    while todo:
        parent_id = todo.pop(0)
        for edge in s.rows("child_edges", {"parent_id": parent_id}):
            child = edge["run_id"]
            if edge["status"] == RunStatus.WAITING.value and edge["done"]:
                s.execute("set_edge_done", {"run_id": child, "parent_id": parent_id, "done": 0})
                s.execute("wait_again", {"id": child})
                continue
            if edge["status"] != RunStatus.CANCELLED.value or edge["cancelled_by"] != parent_id:
                continue
            parents = s.rows("parents_of", {"run_id": child})
            if any(_failed_on_its_own(p) for p in parents if p["parent_id"] not in again):
                continue
            left = 0
            for p in parents:
                done = bool(p["done"]) and p["parent_id"] not in again
                done = done and (p["status"] is None or p["status"] in _FINAL)
                left += not done
                edge_params = {"run_id": child, "parent_id": p["parent_id"], "done": done}
                s.execute("set_edge_done", edge_params)
            s.execute("rearm_run", {"id": child, "parents_left": left})
            again.add(child)
            todo.append(child)


def _failed_on_its_own(parent: Any) -> bool:
    status = parent["status"]
    if status == RunStatus.FAILED.value:
        return True
    return status == RunStatus.CANCELLED.value and parent["cancelled_by"] is None
