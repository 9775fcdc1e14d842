"""``zapjobs jobs limit`` and ``zapjobs queues limit`` through the real entry point: overrides
of a job type's or queue's concurrency cap and rate limit, shown by ``jobs show`` and
``queues list``; bad values are one line, exit 2, and change nothing."""

from __future__ import annotations

import json

from tests.cli.conftest import Cli, assert_clean_error
from zapjobs import ZapJobs


def _show(cli: Cli, job: str) -> dict[str, object]:
    result = cli("jobs", "show", job, "--json")
    assert result.code == 0, str(result)
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_jobs_limit_overrides_and_jobs_show_tells(pg_app: Cli) -> None:
    assert _show(pg_app, "greet")["effective_max_concurrency"] is None
    changed = pg_app("jobs", "limit", "greet", "--max-concurrency", "2")
    assert changed.code == 0, str(changed)
    assert "greet: max concurrency 2 (operator override; declared none)" in changed.stderr
    rated = pg_app("jobs", "limit", "greet", "--rate-limit", "10/min")
    assert rated.code == 0, str(rated)
    shown = _show(pg_app, "greet")
    assert (shown["effective_max_concurrency"], shown["effective_rate_limit"]) == (2, "10/m")
    text = pg_app("jobs", "show", "greet")
    assert "max concurrency  2 (operator override; declared none)" in text.stdout
    assert "rate limit       10/m (operator override; declared none)" in text.stdout
    cleared = pg_app("jobs", "limit", "greet", "--clear")
    assert cleared.code == 0, str(cleared)
    assert _show(pg_app, "greet")["effective_rate_limit"] is None


def test_bad_limits_are_one_line_exit_2_and_write_nothing(pg_app: Cli) -> None:
    assert_clean_error(
        pg_app("jobs", "limit", "greet", "--max-concurrency", "0"),
        2,
        "max_concurrency must be at least 1, got 0",
    )
    assert_clean_error(
        pg_app("jobs", "limit", "greet", "--rate-limit", "10/fortnight"),
        2,
        "invalid rate_limit '10/fortnight'",
    )
    assert_clean_error(
        pg_app("queues", "limit", "nope", "--max-concurrency", "2"), 2, "unknown queue 'nope'"
    )
    assert_clean_error(pg_app("jobs", "limit", "nobody", "--max-concurrency", "2"), 2, "nobody")
    assert pg_app("jobs", "limit", "greet").code == 2  # nothing to change

    async def limits(zap: ZapJobs) -> list[object]:
        return list(await zap.list_flow_limits())

    assert pg_app.query(limits) == []


def test_queues_limit_shows_in_queues_list(pg_app: Cli) -> None:
    changed = pg_app(
        "queues", "limit", "default", "--max-concurrency", "3", "--rate-limit", "100/s"
    )
    assert changed.code == 0, str(changed)
    listed = pg_app("queues", "list", "--json")
    assert listed.code == 0, str(listed)
    [default] = [q for q in json.loads(listed.stdout) if q["name"] == "default"]
    assert (default["max_concurrency"], default["rate_limit"]) == (3, "100/s")
