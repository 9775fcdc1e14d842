"""``zapjobs enqueue --unique-key``: through the real entry point on PostgreSQL. The run id goes
to stdout either way; stderr says when an existing run was returned; the key shows in
``runs show`` and its --json."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, assert_clean_error
from zapjobs import RunFilter, ZapJobs


def test_enqueue_with_a_unique_key_returns_the_holder(pg_app: Cli) -> None:
    first = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--unique-key", "ada-1")
    second = pg_app("enqueue", "greet", "--input", '{"name": "Bob"}', "--unique-key", "ada-1")
    assert first.code == 0 and second.code == 0, str(first) + str(second)
    assert int(second.stdout) == int(first.stdout)
    assert "already holds this unique key" not in first.stderr
    assert f"run {int(first.stdout)} already holds this unique key" in second.stderr

    shown = pg_app("runs", "show", first.stdout.strip(), "--json")
    assert json.loads(shown.stdout)["unique_key"] == "ada-1"
    text = pg_app("runs", "show", first.stdout.strip())
    assert "unique key" in text.stdout and "ada-1" in text.stdout

    async def count(zap: ZapJobs) -> int:
        return await zap.count_runs(RunFilter(job_types=("greet",)))

    assert pg_app.query(count) == 1


def test_a_unique_key_over_the_limit_is_refused_and_writes_nothing(pg_app: Cli) -> None:
    result = pg_app("enqueue", "greet", "--input", '{"name": "Ada"}', "--unique-key", "k" * 300)
    assert_clean_error(result, 2, "unique key is at most 255 characters")

    async def count(zap: ZapJobs) -> int:
        return await zap.count_runs(RunFilter(job_types=("greet",)))

    assert pg_app.query(count) == 0
