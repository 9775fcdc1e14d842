"""``zapjobs queues list|pause|resume|limit|purge``: see queues; stop, restart, limit or empty
one.

Pausing a queue stops every worker from claiming its runs; ``zapjobs jobs pause`` is another
thing: it stops one job type's recurring schedule from enqueuing runs.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.text import Text

from zapjobs import FlowLimit, LimitScope, QueueInfo, ZapJobs
from zapjobs.models import RunFilter, RunStatus
from zapjobs_cli.context import get_state
from zapjobs_cli.display import lag_text, untrusted
from zapjobs_cli.errors import OperationFailed
from zapjobs_cli.limits import ClearOption, MaxConcurrencyOption, RateLimitOption, merged, summary
from zapjobs_cli.options import JsonOption, YesOption
from zapjobs_cli.render import new_table, print_json

app = typer.Typer(
    help="See queues; pause, resume or purge one (a queue pause stops workers claiming its "
    "runs; `zapjobs jobs pause` stops a job type's schedule instead).",
    no_args_is_help=True,
)

QueueArgument = Annotated[str, typer.Argument(metavar="QUEUE", help="The queue's name.")]


class PurgeStatus(StrEnum):
    """What purge may delete: never running runs."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


UNSERVED = "no live worker"


def queue_dict(queue: QueueInfo) -> dict[str, Any]:
    return {
        "name": queue.name,
        "paused": queue.paused,
        "pending": queue.pending,
        "scheduled": queue.scheduled,
        "running": queue.running,
        "lag_seconds": None if queue.lag is None else queue.lag.total_seconds(),
        "workers": list(queue.workers),
        "served": queue.served,
        "finished_last_minute": queue.finished_last_minute,
        "max_concurrency": queue.max_concurrency,
        "rate_limit": None if queue.rate_limit is None else str(queue.rate_limit),
    }


def queues_table(queues: list[QueueInfo]) -> Any:
    table = new_table(
        "QUEUE", "STATE", "PENDING", "SCHEDULED", "RUNNING", "LAG", "WORKERS", "/MIN", "CAP", "RATE"
    )
    for q in queues:
        state = Text("paused", style="yellow") if q.paused else Text("active", style="green")
        workers = untrusted(",".join(q.workers)) if q.workers else Text(UNSERVED, style="bold red")
        table.add_row(
            untrusted(q.name),
            state,
            str(q.pending),
            str(q.scheduled),
            str(q.running),
            lag_text(q.lag),
            workers,
            str(q.finished_last_minute),
            "-" if q.max_concurrency is None else str(q.max_concurrency),
            "-" if q.rate_limit is None else str(q.rate_limit),
        )
    return table


@app.command("list")
def list_queues(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List queues: paused or active, pending (due now), scheduled and running runs, lag (how
    long the oldest pending run has waited), the live workers serving each ("no live worker"
    when none does) and runs finished in the last minute.

    Example: `zapjobs queues list --json`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> list[QueueInfo]:
        return await zap.list_queues()

    queues = state.run(work)
    if as_json:
        print_json([queue_dict(q) for q in queues])
    elif not queues:
        state.note("no queues yet: enqueue a run or start a worker")
    else:
        state.out.print(queues_table(queues))


@app.command("pause")
def pause(ctx: typer.Context, queue: QueueArgument) -> None:
    """Pause QUEUE: no worker claims its runs until resumed (from its next claim on); running
    runs finish and enqueueing still works. Not `zapjobs jobs pause`, which pauses a job
    type's recurring schedule.

    Example: `zapjobs queues pause mail`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> None:
        await zap.pause_queue(queue)

    state.run(work)
    state.note(f"paused queue {queue}: workers stop claiming its runs; running runs finish")


@app.command("resume")
def resume(ctx: typer.Context, queue: QueueArgument) -> None:
    """Resume a paused QUEUE: its workers are woken and claim its runs at once.

    Example: `zapjobs queues resume mail`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> None:
        await zap.resume_queue(queue)

    state.run(work)
    state.note(f"resumed queue {queue}")


@app.command("limit")
def limit(
    ctx: typer.Context,
    queue: QueueArgument,
    max_concurrency: MaxConcurrencyOption = None,
    rate_limit: RateLimitOption = None,
    clear: ClearOption = False,
) -> None:
    """Cap QUEUE's running runs and limit its starts (every job type of the queue counts),
    across every worker, overriding its `queue_limits` setting (from every worker's next claim
    on); --clear removes the override. Runs already running above a lowered cap finish.

    Example: `zapjobs queues limit mail --max-concurrency 5 --rate-limit 100/s`
    """
    state = get_state(ctx)
    if max_concurrency is None and rate_limit is None and not clear:
        raise typer.BadParameter(
            "give --max-concurrency, --rate-limit or --clear", param_hint="options"
        )

    async def work(zap: ZapJobs) -> FlowLimit:
        stored = {x.name: x for x in await zap.list_flow_limits() if x.scope is LimitScope.QUEUE}
        current = stored.get(queue, FlowLimit(LimitScope.QUEUE, queue))
        cap, rate = merged(current, max_concurrency, rate_limit, clear)
        return await zap.set_queue_limits(queue, max_concurrency=cap, rate_limit=rate)

    changed = state.run(work, register=True)
    state.note(f"queue {queue}: {summary(changed)}")


@app.command("purge")
def purge(
    ctx: typer.Context,
    queue: QueueArgument,
    status: Annotated[
        list[PurgeStatus] | None,
        typer.Option(
            "--status",
            help="Delete runs in this status (repeatable; default pending, which includes "
            "scheduled runs). Running runs are never purged.",
            show_default=False,
        ),
    ] = None,
    yes: YesOption = False,
) -> None:
    """Delete QUEUE's pending runs (or those of --status), with their logs; says how many
    match and asks first (--yes skips the question). Running runs are never touched.

    Example: `zapjobs queues purge mail --status failed --yes`
    """
    state = get_state(ctx)
    statuses = tuple(RunStatus(s.value) for s in (status or [PurgeStatus.PENDING]))
    words = ", ".join(s.value for s in statuses)

    async def work(zap: ZapJobs) -> int:
        if not yes:
            count = await zap.count_runs(RunFilter(queues=(queue,), statuses=statuses))
            if count:
                _confirm(f"Delete {count} {words} run(s) of queue {queue}?")
        return await zap.purge_queue(queue, statuses)

    deleted = state.run(work)
    state.note(f"purged {deleted} {words} run(s) of queue {queue}")


def _confirm(question: str) -> None:
    try:
        agreed = typer.confirm(question, default=False, err=True)
    except typer.Abort:
        agreed = False
    if not agreed:
        raise OperationFailed(
            "not confirmed; nothing changed", hint="add --yes to skip the question"
        )
