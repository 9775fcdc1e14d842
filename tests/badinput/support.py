"""Shared helpers for the bad-input tests: table snapshots and the one-line-error check."""

from __future__ import annotations

from typing import Any

import psycopg

from zapjobs.errors import ZapJobsError

TABLES = ("zapjobs_definitions", "zapjobs_runs", "zapjobs_logs", "zapjobs_heartbeats")
DEFINITIONS = "zapjobs_definitions"
SECRET = "hunter2-Zq9"  # a password that must never appear in any message


def snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every zapjobs table, in a stable order, to compare before and after.

    A definition's ``updated_at`` is left out: a process opening with job
    types registers them again, which refreshes that timestamp and nothing else."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY 1")
            names = [column.name for column in cursor.description or ()]
            kept = [
                i for i, name in enumerate(names) if (table, name) != (DEFINITIONS, "updated_at")
            ]
            tables[table] = [tuple(row[i] for i in kept) for row in cursor.fetchall()]
    return tables


def assert_clear(exc: BaseException) -> None:
    """A deliberate zapjobs error: one line, saying something, with no password in it."""
    assert isinstance(exc, ZapJobsError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert text.strip(), "empty error message"
    assert "\n" not in text, f"multi-line error: {text!r}"
    assert SECRET not in text
