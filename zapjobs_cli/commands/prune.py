"""``zapjobs prune``: delete finished runs, logs and workers past their retention now."""

from __future__ import annotations

import typer

from zapjobs import ZapJobs
from zapjobs.models import PruneResult
from zapjobs.settings import format_duration
from zapjobs_cli.context import get_state
from zapjobs_cli.options import JsonOption
from zapjobs_cli.render import print_json


def register(root: typer.Typer) -> None:
    root.command("prune")(prune)


def prune(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Delete finished runs older than job_retention, log entries older than log_retention and
    long-gone workers (workers do this on their own too; pending and running runs are kept).

    JSON: {"runs_deleted", "logs_deleted", "workers_deleted"}.

    Example: `ZAPJOBS_JOB_RETENTION=7d zapjobs prune`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> PruneResult:
        return await zap.prune()

    result = state.run(work)
    if as_json:
        print_json(
            {
                "runs_deleted": result.runs_deleted,
                "logs_deleted": result.logs_deleted,
                "workers_deleted": result.workers_deleted,
            }
        )
        return
    settings = state.settings
    state.note(
        f"deleted {result.runs_deleted} run(s) finished over "
        f"{format_duration(settings.job_retention)} ago, {result.logs_deleted} log entr"
        f"{'y' if result.logs_deleted == 1 else 'ies'} over "
        f"{format_duration(settings.log_retention)} old, {result.workers_deleted} old worker(s)"
    )
