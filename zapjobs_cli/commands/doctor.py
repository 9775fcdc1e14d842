"""``zapjobs doctor``: one checklist of what is wrong with an installation, a verdict per line
and what to do. Exit 0 healthy, 1 a problem (or, with --strict, a warning), 3 the database
cannot be reached or is not migrated. The checks and their rules are the library's
(``ZapJobs.diagnose``); this module only renders them."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from zapjobs import Check, Diagnosis, Outcome, Verdict, ZapJobs
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.display import visible
from zapjobs_cli.errors import EXIT_DATABASE, EXIT_FAILED, EXIT_OK
from zapjobs_cli.options import JsonOption
from zapjobs_cli.render import display_dsn, iso, print_json

EXIT_CODES = {
    Outcome.HEALTHY: EXIT_OK,
    Outcome.FINDINGS: EXIT_FAILED,
    Outcome.UNUSABLE: EXIT_DATABASE,
}
MARKS = {
    Verdict.OK: ("ok", "green"),
    Verdict.WARNING: ("warning", "yellow"),
    Verdict.PROBLEM: ("problem", "bold red"),
    Verdict.NOT_APPLICABLE: ("n/a", "dim"),
    Verdict.SKIPPED: ("skipped", "dim"),
}
_TITLE_WIDTH = 24


def register(root: typer.Typer) -> None:
    root.command("doctor")(doctor)


def doctor(
    ctx: typer.Context,
    strict: Annotated[
        bool, typer.Option("--strict", help="Warnings count as findings too (exit 1).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the installation: server settings (autovacuum, connections for the live workers'
    pools, long transactions), migrations and indexes, the NOTIFY round trip, clock skew,
    workers per queue and queues nobody serves, runs past their timeout or overdue, table
    sizes and dead rows, and retention. Each line: ok, warning, problem, n/a or skipped, and
    what to do. Only reads: a read-only database role is enough.

    Exit 0 healthy (warnings allowed unless --strict), 1 a problem, 3 the database cannot be
    reached or is not migrated.

    JSON: {"ok", "outcome", "strict", "database", "checked_at", "counts": {verdict: n},
    "checks": [{"name", "title", "verdict", "summary", "advice", "details"}]}.

    Example: `zapjobs doctor --json | jq '.checks[] | select(.verdict != "ok")'`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> dict[str, Any]:
        diagnosis = await zap.diagnose()
        return report(diagnosis, zap, strict=strict)

    found = state.run(work)
    if as_json:
        print_json(found)
    else:
        show(state, found)
    code = EXIT_CODES[Outcome(found["outcome"])]
    if code:
        raise typer.Exit(code)


def report(diagnosis: Diagnosis, zap: ZapJobs, *, strict: bool) -> dict[str, Any]:
    outcome = diagnosis.outcome(strict=strict)
    return {
        "ok": outcome is Outcome.HEALTHY,
        "outcome": outcome.value,
        "strict": strict,
        "database": display_dsn(zap.settings.database_url),
        "checked_at": iso(zap.now()),
        "counts": {v.value: diagnosis.count(v) for v in Verdict},
        "checks": [check_dict(c) for c in diagnosis.checks],
    }


def check_dict(check: Check) -> dict[str, Any]:
    return {
        "name": check.name,
        "title": check.title,
        "verdict": check.verdict.value,
        "summary": check.summary,
        "advice": check.advice or None,
        "details": list(check.details),
    }


def show(state: CliState, found: dict[str, Any]) -> None:
    """One line per check on stdout; every value goes in as plain Text, never markup."""
    state.out.print(Text(f"zapjobs doctor: {visible(found['database'])}", style="bold"))
    for check in found["checks"]:
        label, style = MARKS[Verdict(check["verdict"])]
        line = Text()
        line.append(f"{label:<8}", style=style)
        line.append(f" {visible(check['title']):<{_TITLE_WIDTH}} ", style="bold")
        line.append(visible(check["summary"]))
        state.out.print(line, soft_wrap=True)
        for detail in check["details"]:
            state.out.print(Text(" " * (_TITLE_WIDTH + 10) + visible(detail)), soft_wrap=True)
        if check["advice"]:
            advice = Text(" " * (_TITLE_WIDTH + 10) + "→ ", style="cyan")
            advice.append(visible(check["advice"]))
            state.out.print(advice, soft_wrap=True)
    counts = found["counts"]
    verdict = {
        "healthy": "healthy",
        "findings": "findings",
        "unusable": "the database cannot be used",
    }[found["outcome"]]
    state.note(
        f"{verdict}: {counts['problem']} problem(s), {counts['warning']} warning(s)"
        + (" (--strict: warnings count)" if found["strict"] else "")
    )
