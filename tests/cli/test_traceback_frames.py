"""``runs show`` through the real entry point shows a failed run's traceback with the user's
frames first: the executor's own frames (zapjobs' runtime calling the job) are folded into one
line. ``--json`` keeps the traceback whole."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import replace

from tests.cli.conftest import Cli
from zapjobs import JobContext, ZapJobs
from zapjobs.testing import drain


def _helper() -> None:
    raise ValueError("bad input")


def _failed_run(url: str) -> int:
    """A run that failed in a real worker's executor (this process), its traceback stored."""

    async def main() -> int:
        zap = ZapJobs(url, auto_migrate=True)

        @zap.job("boom", max_retries=0)
        async def boom(ctx: JobContext[None]) -> None:
            _helper()

        async with zap:
            run_id = await zap.enqueue("boom", None)
            await drain(zap)
            return run_id

    return asyncio.run(main())


def test_runs_show_puts_the_users_frames_first(sqlite_cli: Cli) -> None:
    run_id = _failed_run(sqlite_cli.url)
    wide = replace(sqlite_cli, env={**sqlite_cli.env, "COLUMNS": "300"})
    shown = wide("runs", "show", str(run_id))
    assert shown.code == 0, str(shown)
    lines = shown.stdout.splitlines()
    start = lines.index("Traceback (most recent call last):")
    assert re.fullmatch(r"  … \d+ zapjobs frames?", lines[start + 1]), lines[start:]
    assert lines[start + 2].endswith(", in boom"), lines[start:]
    assert "executor.py" not in shown.stdout
    whole = json.loads(wide("runs", "show", str(run_id), "--json").stdout)
    assert "zapjobs/runtime/executor.py" in whole["error"]["traceback"]
