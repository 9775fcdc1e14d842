"""Shared pieces of the PostgreSQL plan tests: a migrated schema filled with many runs,
EXPLAIN's plan as a flat list of nodes, and the statements prepared on a store's connection.
Each test file keeps its own data (FILL) on purpose."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.conftest import drop_pg_schema, new_pg_schema, require_postgres
from zapjobs.stores.postgres import PostgresStore


@contextmanager
def filled_schema(fill: str, rows: int) -> Iterator[tuple[str, dict[str, str]]]:
    """(conninfo, every statement of the store) of one migrated schema where ``fill`` (with its
    ``rows`` parameter) inserted the runs, analyzed; the schema is dropped afterwards."""
    require_postgres()
    schema, url = new_pg_schema()
    try:

        async def migrate() -> dict[str, str]:
            store = PostgresStore(url, min_size=1, max_size=1)
            await store.open()
            try:
                await store.migrate()
                return dict(store.queries)
            finally:
                await store.close()

        queries = asyncio.run(migrate())
        with psycopg.connect(url, autocommit=True) as conn:
            # The plans must not depend on luck: autovacuum's own ANALYZE (a fresh random
            # sample, taken whenever it wakes) is kept off these tables, and ours reads every
            # row, so a rare value is always seen and the same plan comes out on every run.
            for (table,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            ).fetchall():
                conn.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')
            conn.execute(fill, {"rows": rows})
            conn.execute("SET default_statistics_target = 10000")
            conn.execute("ANALYZE zapjobs_runs")
        yield url, queries
    finally:
        drop_pg_schema(schema)


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def explain(url: str, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of the plan the server picks for ``sql`` with ``params``."""
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        row = cur.fetchone()
    assert row is not None
    return list(nodes(row["QUERY PLAN"][0]["Plan"]))


async def server_plans(
    store: PostgresStore, *, hot: bool = True, lane: str = "claims"
) -> dict[str, tuple[int, int]]:
    """(generic, custom) plan counts of the prepared statements on the connection of the pool
    (of the hot pool's lane)."""
    async with store._db.connection(hot=hot, lane=lane) as conn:
        cur = await conn.execute(
            "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        )
        rows = await cur.fetchall()
    found: dict[str, tuple[int, int]] = {}
    for name, text in store.queries.items():
        for statement, generic, custom in rows:
            if same_sql(statement, text):
                found[name] = (generic, custom)
    return found


def same_sql(prepared: str, text: str) -> bool:
    squash = re.compile(r"\$\d+|%\(\w+\)[sb]|\s+")
    return squash.sub("", prepared) == squash.sub("", text)
