"""``zapjobs recurring add|remove``: attach a CRON or interval schedule to a job type."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.errors import ValidationError
from zapjobs.models import CatchUp, JobDefinition
from zapjobs_cli.commands.jobs import JobArgument, known_definition
from zapjobs_cli.context import get_state
from zapjobs_cli.display import when_text
from zapjobs_cli.errors import OperationFailed
from zapjobs_cli.options import InputOption, JsonOption, duration_option, read_input
from zapjobs_cli.render import job_dict, print_json, schedule_text

app = typer.Typer(help="Schedule job types to run on a CRON or an interval.", no_args_is_help=True)


@app.command("add")
def add(
    ctx: typer.Context,
    job: JobArgument,
    cron: Annotated[
        str | None,
        typer.Option("--cron", metavar="EXPR", help="A CRON expression, e.g. '0 3 * * *'."),
    ] = None,
    tz: Annotated[
        str, typer.Option("--tz", metavar="ZONE", help="Time zone of the CRON expression.")
    ] = "UTC",
    every: Annotated[
        str | None, typer.Option("--every", metavar="DURATION", help="A fixed interval, e.g. 30m.")
    ] = None,
    input: InputOption = None,
    catch_up: Annotated[
        CatchUp,
        typer.Option("--catch-up", help="Missed due times: run the latest once, or skip them."),
    ] = CatchUp.LATEST,
    as_json: JsonOption = False,
) -> None:
    """Attach (or replace) the recurring schedule of JOB; workers enqueue it when due.

    Example: `zapjobs recurring add nightly-report --cron '0 3 * * *' --tz Europe/Paris`
    """
    state = get_state(ctx)
    if (cron is None) == (every is None):
        raise ValidationError("give --cron EXPR or --every DURATION (one of them)")
    if every is not None and tz != "UTC":
        raise ValidationError("--tz applies to --cron only")
    interval = duration_option(every, "--every")
    if interval is not None and interval < timedelta(seconds=1):  # the library's own minimum
        raise ValidationError(
            f"--every must be at least 1s, got {every!r}", hint="e.g. --every 30s or --every 5m"
        )
    input_json = read_input(input)  # "null" when not given

    async def work(zap: ZapJobs) -> JobDefinition:
        await known_definition(zap, job)
        return await zap.recurring_json(
            job, input_json, cron=cron, interval=interval, timezone=tz, catch_up=catch_up
        )

    definition = state.run(work, register=True)
    if as_json:
        print_json(job_dict(definition, state.settings.default_timeout.total_seconds()))
    else:
        state.note(
            f"{job}: {schedule_text(definition)}, next run {when_text(definition.next_due_at)} UTC"
        )


@app.command("remove")
def remove(ctx: typer.Context, job: JobArgument) -> None:
    """Remove the recurring schedule of JOB (its runs already enqueued stay).

    A schedule your code declares (cron= or interval= on the job) is refused: the next worker
    start would declare it again. Remove it from the code, or pause it
    (`zapjobs jobs pause JOB`), which lasts until resumed.

    Example: `zapjobs recurring remove nightly-report`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> bool:
        await known_definition(zap, job)
        if declared_in_code(zap, job):
            raise OperationFailed(
                f"{job}'s schedule is declared in your code (cron= or interval= on the job): "
                "the next worker start would declare it again; nothing changed",
                hint=f"remove it from the code, or pause it: zapjobs jobs pause {job}",
            )
        await zap.remove_recurring(job)
        return job in zap.job_types

    code_known = state.run(work, register=True)
    state.note(f"{job}: no longer recurring")
    if not code_known:  # no app to check: say what would bring it back
        state.note(
            f"note: if your code declares this schedule, the next worker start declares it "
            f"again (pause it instead: zapjobs jobs pause {job})"
        )


def declared_in_code(zap: ZapJobs, job: str) -> bool:
    """The app's code (when this process has it) gives ``job`` a recurring schedule."""
    if job not in zap.job_types:
        return False
    return zap.registration(job).definition(zap.settings).schedule is not None
