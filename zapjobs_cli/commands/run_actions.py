"""``zapjobs runs retry|cancel|delete``: by run ids, or in bulk by a filter after a
confirmation that shows how many runs match (``--yes`` skips it)."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.errors import RunNotFoundError, ValidationError
from zapjobs.models import CancelledRuns, JobRun, Page, RunFilter, RunStatus
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.errors import OperationFailed
from zapjobs_cli.options import (
    RUN_IDS,
    JsonOption,
    YesOption,
    build_filter,
    describe_filter,
    in_range,
    is_empty_filter,
)
from zapjobs_cli.render import print_json

RunIds = Annotated[
    list[int] | None,
    typer.Argument(
        metavar="RUN", help="Run ids.", show_default=False, callback=in_range("RUN", RUN_IDS)
    ),
]
StatusOption = Annotated[
    list[str] | None, typer.Option("--status", "-s", help="Select by status (repeatable).")
]
JobOption = Annotated[list[str] | None, typer.Option("--job", "-j", help="Select by job type.")]
QueueOption = Annotated[list[str] | None, typer.Option("--queue", "-q", help="Select by queue.")]
SinceOption = Annotated[
    str | None, typer.Option("--since", metavar="DURATION", help="Created in the last DURATION.")
]


@dataclass(frozen=True)
class Action:
    verb: str  # "retry"
    done: str  # "retried"
    applies_to: str  # for runs left alone
    call: Callable[[ZapJobs, RunFilter], Awaitable[list[int]]]


async def _retry(zap: ZapJobs, selection: RunFilter) -> list[int]:
    return await zap.retry_runs(selection)


async def _cancel(zap: ZapJobs, selection: RunFilter) -> list[int]:
    return await zap.cancel_runs(selection)


async def _delete(zap: ZapJobs, selection: RunFilter) -> list[int]:
    return await zap.delete_runs(selection)


RETRY = Action("retry", "retried", "only failed or cancelled runs can be retried", _retry)
CANCEL = Action("cancel", "cancelled", "only pending or running runs can be cancelled", _cancel)
DELETE = Action("delete", "deleted", "running runs cannot be deleted (cancel them first)", _delete)


def register(app: typer.Typer) -> None:
    app.command("retry")(retry)
    app.command("cancel")(cancel)
    app.command("delete")(delete)


def retry(
    ctx: typer.Context,
    run_ids: RunIds = None,
    status: StatusOption = None,
    job: JobOption = None,
    queue: QueueOption = None,
    since: SinceOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Put failed or cancelled runs back to pending, due now, with a fresh attempt budget.

    With a filter instead of run ids it says how many runs match and asks first (--yes skips
    the question).

    Example: `zapjobs runs retry 41 42`

    In bulk: `zapjobs runs retry --status failed --job email-sender`
    """
    act(get_state(ctx), RETRY, run_ids, status, job, queue, since, yes=yes, as_json=as_json)


def cancel(
    ctx: typer.Context,
    run_ids: RunIds = None,
    status: StatusOption = None,
    job: JobOption = None,
    queue: QueueOption = None,
    since: SinceOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Cancel runs: pending ones at once; running ones are stopped by their worker.

    With a filter instead of run ids it says how many runs match and asks first (--yes skips
    the question).

    Example: `zapjobs runs cancel 42`

    In bulk: `zapjobs runs cancel --status pending --queue bulk`
    """
    act(get_state(ctx), CANCEL, run_ids, status, job, queue, since, yes=yes, as_json=as_json)


def delete(
    ctx: typer.Context,
    run_ids: RunIds = None,
    status: StatusOption = None,
    job: JobOption = None,
    queue: QueueOption = None,
    since: SinceOption = None,
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Delete runs that are not running, with their logs.

    With a filter instead of run ids it says how many runs match and asks first (--yes skips
    the question).

    Example: `zapjobs runs delete --status succeeded --since 1h --yes`
    """
    act(get_state(ctx), DELETE, run_ids, status, job, queue, since, yes=yes, as_json=as_json)


def act(
    state: CliState,
    action: Action,
    run_ids: list[int] | None,
    status: list[str] | None,
    job: list[str] | None,
    queue: list[str] | None,
    since: str | None,
    *,
    yes: bool,
    as_json: bool,
) -> None:
    selection = build_filter(
        ids=run_ids,
        statuses=status,
        job_types=job,
        queues=queue,
        since=since,
        now=datetime.now(UTC),
    )
    if is_empty_filter(selection):
        raise ValidationError(
            f"say which runs to {action.verb}",
            hint=f"give run ids, or a filter, e.g. zapjobs runs {action.verb} --status failed",
        )

    async def work(zap: ZapJobs) -> tuple[list[int], list[JobRun]]:
        if run_ids:
            found = await zap.list_runs(RunFilter(ids=tuple(run_ids)), Page(limit=len(run_ids)))
            missing = sorted(set(run_ids) - {run.id for run in found})
            if missing:
                raise RunNotFoundError(missing[0])
        if not run_ids or selection != RunFilter(ids=selection.ids):
            count = await zap.count_runs(selection)
            if count == 0:
                return [], []
            confirm(action, count, selection, yes=yes)
        changed = await action.call(zap, selection)
        after: list[JobRun] = []
        if run_ids and len(changed) < len(run_ids):  # why were the others left alone
            after = await zap.list_runs(RunFilter(ids=tuple(run_ids)), Page(limit=len(run_ids)))
        return changed, after

    changed, after = state.run(work)
    report(state, action, run_ids, selection, changed, after, as_json=as_json)


def confirm(action: Action, count: int, selection: RunFilter, *, yes: bool) -> None:
    if yes:
        return
    question = f"{action.verb.capitalize()} {count} run(s) matching {describe_filter(selection)}?"
    agreed = ask(question)
    if not agreed:
        raise OperationFailed(
            "not confirmed; nothing changed", hint="add --yes to skip the question"
        )


def ask(question: str) -> bool:
    """A yes/no question on stderr, the answer read from stdin (default no). Not
    ``typer.confirm``: its prompt writes a space to stdout, which must hold only data."""
    sys.stderr.write(f"{question} [y/N]: ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer.endswith("\n"):  # end of input: nobody said yes
        sys.stderr.write("\n")
    return answer.strip().lower() in {"y", "yes"}


def report(
    state: CliState,
    action: Action,
    run_ids: list[int] | None,
    selection: RunFilter,
    changed: list[int],
    after: list[JobRun],
    *,
    as_json: bool,
) -> None:
    changed_set = set(changed)
    left_alone = [run for run in after if run.id not in changed_set]
    superseded = _superseded(after, changed_set) if action is RETRY else {}
    left_alone = [run for run in left_alone if run.id not in superseded]
    # what the action's own statement did, never a status read afterwards (by then a
    # worker may have claimed a retried run, or finished one asked to stop)
    stopping = list(changed.stop_requested) if isinstance(changed, CancelledRuns) else []
    if as_json:
        data: dict[str, object] = {
            "action": action.verb,
            "changed": sorted(changed),
            "unchanged": sorted(run.id for run in left_alone),
        }
        if action is RETRY:
            data["superseded"] = {str(k): v for k, v in sorted(superseded.items())}
        if action is CANCEL:
            data["stop_requested"] = stopping
        print_json(data)
    elif not changed and not run_ids:
        state.note(f"no runs to {action.verb} ({describe_filter(replace(selection, ids=None))})")
    elif changed:
        done = sorted(changed_set - set(stopping))
        if done:
            state.note(f"{action.done} {len(done)} run(s): {_ids(done)}")
        if stopping:
            state.note(
                f"asked the workers to stop {len(stopping)} running run(s): {_ids(stopping)}"
            )
    if run_ids:
        for run_id, newer in sorted(superseded.items()):
            state.note(
                f"run {run_id} skipped: run {newer} has the same unique key and was retried "
                "instead (one retry puts back only the newest run of a key)"
            )
        for run in left_alone:
            state.note(f"run {run.id} not {action.done}: {_why_left_alone(run, action)}")
        if left_alone:
            raise typer.Exit(1)


def _superseded(runs: list[JobRun], changed: set[int]) -> dict[int, int]:
    """Asked-for runs a retry left alone because a newer run of the same unique key, retried
    by the same call, holds the key now: run id -> the newer run's id."""
    retried = {(r.job_type, r.unique_key): r.id for r in runs if r.id in changed and r.unique_key}
    return {
        r.id: retried[(r.job_type, r.unique_key)]
        for r in runs
        if r.id not in changed and r.unique_key and (r.job_type, r.unique_key) in retried
    }


def _why_left_alone(run: JobRun, action: Action) -> str:
    if action is RETRY and run.unique_key and run.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return "another run holds its unique key; retry it once that run has finished"
    return f"it is {run.status.value} ({action.applies_to})"


def _ids(ids: list[int], limit: int = 20) -> str:
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f", … ({len(ids) - limit} more)" if len(ids) > limit else "")
