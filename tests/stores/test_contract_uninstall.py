"""Conformance: uninstall drops an installation's data, and it can be installed again."""

from __future__ import annotations

import pytest

from tests.stores.helpers import T0, enqueue_one
from zapjobs.errors import NotMigratedError
from zapjobs.models import JobDefinition, Page, RunFilter
from zapjobs.stores import Store


async def test_uninstall_then_migrate_gives_an_empty_installation(store: Store) -> None:
    await store.register_definitions([JobDefinition("a")])
    run_id = await enqueue_one(store, "a", now=T0)

    await store.uninstall()
    if store.backend != "memory":  # a database store has no tables left at all
        with pytest.raises(NotMigratedError):
            await store.check_ready()

    await store.migrate()
    await store.check_ready()
    assert await store.get_run(run_id) is None
    assert await store.list_runs(RunFilter(), Page()) == []
    assert await store.list_definitions() == []


async def test_uninstall_twice_is_harmless(store: Store) -> None:
    await store.uninstall()
    await store.uninstall()
    await store.migrate()
    assert await store.count_runs(RunFilter()) == 0
