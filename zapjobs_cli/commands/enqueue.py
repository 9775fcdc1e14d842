"""``zapjobs enqueue``: add a run, print its id, and optionally wait for its end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.errors import UnknownJobTypeError, ValidationError
from zapjobs.models import EnqueueResult, JobRun, RunStatus, WorkerState
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.display import attempt_text, one_line, span
from zapjobs_cli.errors import OperationFailed
from zapjobs_cli.options import (
    PRIORITIES,
    InputOption,
    JsonOption,
    duration_option,
    in_range,
    parse_time,
    read_input,
)
from zapjobs_cli.render import print_json, run_dict, worker_state


def register(root: typer.Typer) -> None:
    root.command("enqueue")(enqueue)


def enqueue(
    ctx: typer.Context,
    job_type: Annotated[
        str, typer.Argument(metavar="JOB_TYPE", help="The job type id, e.g. email-sender.")
    ],
    input: InputOption = None,
    queue: Annotated[
        str | None, typer.Option("--queue", "-q", help="Queue (default: the job type's).")
    ] = None,
    priority: Annotated[
        int,
        typer.Option(
            "--priority",
            "-p",
            callback=in_range("--priority", PRIORITIES),
            help="Higher runs first within a queue.",
        ),
    ] = 0,
    delay: Annotated[
        str | None, typer.Option("--delay", metavar="DURATION", help="Due after this, e.g. 10m.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at", metavar="TIME", help="Due at this ISO-8601 time, e.g. 2026-01-31T09:00Z."
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait for the end; print the output or the error.")
    ] = False,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", metavar="DURATION", help="With --wait: give up after this."),
    ] = None,
    unique_key: Annotated[
        str | None,
        typer.Option(
            "--unique-key",
            metavar="KEY",
            help="Create the run only if no pending or running run of the job type holds KEY; "
            "else print that run's id (and say so on stderr).",
        ),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option(
            "--after",
            metavar="IDS",
            help="Wait for these runs (comma-separated ids, e.g. 12,13) to finish first.",
        ),
    ] = None,
    on_parent_failure: Annotated[
        str,
        typer.Option(
            "--on-parent-failure",
            metavar="POLICY",
            help="With --after: cancel (default) or run this run when a parent fails.",
        ),
    ] = "cancel",
    as_json: JsonOption = False,
) -> None:
    """Enqueue a run of JOB_TYPE and print its id (stdout).

    Job types registered by a running worker work without --app; with --app the input is
    checked against the job's declared type. With --wait the exit code is 1 when the run fails
    or is cancelled.

    Example: `zapjobs enqueue email-sender --input '{"to": "a@b.c"}' --wait --timeout 60s`
    """
    state = get_state(ctx)
    input_json = read_input(input)
    delay_value = duration_option(delay, "--delay")
    run_at = parse_time(at) if at is not None else None
    if delay_value is not None and run_at is not None:
        raise ValidationError("give --delay or --at, not both")
    wait_limit = duration_option(timeout, "--timeout")
    if timeout is not None and not wait:
        raise ValidationError("--timeout only applies with --wait")
    parents = run_ids_option(after, "--after") if after is not None else ()
    if on_parent_failure not in ("cancel", "run"):
        raise ValidationError(
            f"--on-parent-failure must be cancel or run, got {on_parent_failure!r}"
        )
    if after is None and on_parent_failure != "cancel":
        raise ValidationError("--on-parent-failure only applies with --after")

    async def work(zap: ZapJobs) -> JobRun | int:
        try:
            if parents:
                run_id = await zap.enqueue_json(
                    job_type,
                    input_json,
                    queue=queue,
                    priority=priority,
                    delay=delay_value,
                    run_at=run_at,
                    unique_key=unique_key,
                    after=parents,
                    on_parent_failure=on_parent_failure,
                )
                enqueued = EnqueueResult(run_id, created=True)
            else:
                enqueued = await zap.enqueue_json_unique(
                    job_type,
                    input_json,
                    queue=queue,
                    priority=priority,
                    delay=delay_value,
                    run_at=run_at,
                    unique_key=unique_key,
                )
        except UnknownJobTypeError:
            raise await unknown_job_type(zap, job_type) from None
        run_id = enqueued.run_id
        if not enqueued.created:
            state.note(f"run {run_id} already holds this unique key: no new run was created")
        if queue is not None:
            await warn_if_unserved(state, zap, queue)
        if not wait:
            return await zap.get_run(run_id) if as_json else run_id
        state.note(f"enqueued run {run_id}; waiting for it to finish")
        return await zap.wait_for(
            run_id, timeout=wait_limit, on_change=lambda run: note_retry(state, zap, run)
        )

    result = state.run(work, register=True)
    if isinstance(result, int):
        state.out.print(str(result), markup=False, highlight=False)
        return
    if as_json:
        print_json(run_dict(result, datetime.now(UTC)))
    elif wait:
        print_outcome(state, result)
    if wait:
        raise_if_failed(result)


def run_ids_option(text: str, option: str) -> tuple[int, ...]:
    """``12,13`` as run ids; anything else is a usage error naming the option."""
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(p.isdigit() and p.isascii() and int(p) > 0 for p in parts):
        raise ValidationError(
            f"{option} takes run ids separated by commas, got {text!r}", hint=f"{option} 12,13"
        )
    return tuple(int(p) for p in parts)


def note_retry(state: CliState, zap: ZapJobs, run: JobRun) -> None:
    """While --wait waits through a retry's backoff: which attempt failed, and when the next
    one is due (else the wait looks hung)."""
    if run.status is not RunStatus.PENDING or run.attempt < 1 or run.error is None:
        return
    due = max(0.0, (run.run_at - zap.now()).total_seconds())
    state.note(
        f"attempt {attempt_text(run)} failed: {run.error.type}: {one_line(run.error.message)}; "
        f"retrying in {span(due, tenths=False)}"
    )


async def warn_if_unserved(state: CliState, zap: ZapJobs, queue: str) -> None:
    """A queue no live worker serves (a typo, or a worker started with other --queues) holds
    the run until one does: say so, once, and go on (the run is enqueued)."""
    now = zap.now()
    alive = [
        w
        for w in await zap.list_workers()
        if worker_state(w, now, zap.settings) is WorkerState.ALIVE
    ]
    if any(queue in w.queues for w in alive):
        return
    served = sorted({q for w in alive for q in w.queues})
    serving = f"live workers serve {', '.join(served)}" if served else "no worker is alive"
    state.note(
        f"warning: no live worker serves queue {queue!r} ({serving}); the run waits until "
        f"one does (zapjobs worker --queues {queue})",
        style="yellow",
    )


async def unknown_job_type(zap: ZapJobs, job_type: str) -> UnknownJobTypeError:
    """The error for a job type neither the app nor the store knows, listing the known ones."""
    known = sorted({d.job_type for d in await zap.list_definitions()} | set(zap.job_types))
    error = UnknownJobTypeError(job_type, known=known)
    if not known:
        error.hint = (
            "no job types are registered yet: start a worker (zapjobs worker --app module:attr) "
            "or pass --app"
        )
    return error


def print_outcome(state: CliState, run: JobRun) -> None:
    """The output (stdout) of a succeeded run; a failed run's error goes to the exit path."""
    if run.status is RunStatus.SUCCEEDED:
        state.out.print(
            json.dumps(run.output, ensure_ascii=False, default=str), markup=False, highlight=False
        )


def raise_if_failed(run: JobRun) -> None:
    if run.status is RunStatus.SUCCEEDED:
        return
    if run.error is not None:
        detail = f"{run.error.type}: {run.error.message}"
    else:
        detail = "no error recorded"
    raise OperationFailed(
        f"run {run.id} {run.status.value} after {run.attempt} attempt(s): {detail}",
        hint=f"see `zapjobs runs show {run.id}` and `zapjobs runs logs {run.id}`",
    )
