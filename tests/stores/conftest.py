"""Fixtures of the PostgreSQL-only store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from zapjobs.stores.postgres import PostgresStore


@pytest.fixture
async def pg(pg_url: str) -> AsyncIterator[PostgresStore]:
    """A migrated PostgreSQL store on this test's own schema, one connection per pool, so a test
    can look at the very connection its statements ran on."""
    store = PostgresStore(pg_url, min_size=1, max_size=1)
    await store.open()
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()
