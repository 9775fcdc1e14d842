"""Gathering the facts ``zapjobs doctor`` judges (zapjobs.core.diagnosis), through the store
protocol only. Reads, never writes: a read-only database role is enough."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from zapjobs.clock import Clock
from zapjobs.core.diagnosis import NOTIFY_TIMEOUT, OVERDUE_AFTER, Facts
from zapjobs.models import MigrationStatus
from zapjobs.settings import Settings
from zapjobs.stores.base import Store


async def gather_facts(
    store: Store,
    settings: Settings,
    *,
    migrations: MigrationStatus,
    server_version: str,
    clock: Clock | None,
) -> Facts:
    """Everything the checks need; the installation's facts only once it is migrated."""
    before = time.time()
    server = await store.server_facts()
    after = time.time()
    skew = uncertainty = None
    if server is not None:
        # the server read its clock somewhere in the round trip: assume the middle of it
        host_mid = datetime.fromtimestamp((before + after) / 2, UTC)
        skew, uncertainty = server.now - host_mid, timedelta(seconds=(after - before) / 2)
    if clock is not None:
        now, store_now = clock.now(), clock.now()
    else:
        now, store_now = (server.now if server is not None else datetime.now(UTC)), None
    facts = Facts(
        backend=store.backend,
        now=now,
        server_version=server_version,
        migrations=migrations,
        stale_after=settings.stale_worker_threshold,
        default_timeout=settings.default_timeout,
        job_retention=settings.job_retention,
        log_retention=settings.log_retention,
        server=server,
        budget=store.connection_budget(),
        clock_skew=skew,
        clock_uncertainty=uncertainty or timedelta(0),
        notify=await store.notify_round_trip(timeout=NOTIFY_TIMEOUT),
    )
    if migrations.pending:
        return facts
    return replace(
        facts,
        tables=await store.table_facts(),
        workers=await store.list_workers(),
        backlog=await store.queue_backlog(overdue_after=OVERDUE_AFTER, now=store_now),
        running=await store.running_by_job_type(),
        definitions=await store.list_definitions(),
        retention=await store.retention_facts(),
    )
