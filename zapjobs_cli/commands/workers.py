"""``zapjobs workers list``: every known worker and whether its heartbeat is fresh."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.models import WorkerInfo, WorkerState
from zapjobs.settings import Settings
from zapjobs_cli.context import get_state
from zapjobs_cli.options import JsonOption
from zapjobs_cli.render import print_json, worker_dict, worker_state, workers_table

app = typer.Typer(help="See the workers.", no_args_is_help=True)


@app.command("list")
def list_workers(
    ctx: typer.Context,
    alive: Annotated[
        bool, typer.Option("--alive", help="Only workers with a fresh heartbeat.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List workers, most recently seen first: alive, stale (heartbeat late), dead or stopped.

    Example: `zapjobs workers list --alive --json`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> tuple[list[WorkerInfo], Settings]:
        return await zap.list_workers(), zap.settings

    workers, settings = state.run(work)
    now = datetime.now(UTC)
    if alive:
        workers = [w for w in workers if worker_state(w, now, settings) is WorkerState.ALIVE]
    if as_json:
        print_json([worker_dict(w, now, settings) for w in workers])
    elif not workers:
        state.note("no workers" + (" alive" if alive else " yet: start one with `zapjobs worker`"))
    else:
        state.out.print(workers_table(workers, now, settings))
