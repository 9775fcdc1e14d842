"""``zapjobs health``: a probe for containers and monitors (exit 0 healthy, 1 a check failed,
3 the database cannot be reached or is not migrated)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zapjobs import ZapJobs
from zapjobs.errors import StoreError
from zapjobs_cli.context import get_state
from zapjobs_cli.errors import EXIT_DATABASE, EXIT_FAILED
from zapjobs_cli.options import JsonOption
from zapjobs_cli.render import display_dsn, print_json, worker_dict


def register(root: typer.Typer) -> None:
    root.command("health")(health)


def health(
    ctx: typer.Context,
    worker_id: Annotated[
        str | None,
        typer.Option(
            "--worker",
            metavar="ID",
            help="Also check that this worker is alive (a fresh heartbeat).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check that the database is reachable and migrated (and a worker is alive).

    JSON: {"ok", "database": {"url", "reachable", "migrated", "server_version", "pending",
    "error"}, "worker": worker or null, "problems": [text]}.

    Example: `zapjobs health --worker "$HOSTNAME-1234-ab12" --json`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> tuple[dict[str, Any], int]:
        database: dict[str, Any] = {
            "url": display_dsn(zap.settings.database_url),
            "reachable": False,
            "migrated": False,
            "server_version": None,
            "pending": [],
            "error": None,
        }
        report: dict[str, Any] = {"ok": False, "database": database, "worker": None, "problems": []}
        problems: list[str] = report["problems"]
        try:
            status = await zap.migration_status()
            database["reachable"] = True
            database["server_version"] = await zap.server_version()
            database["pending"] = [m.version for m in status.pending]
            database["migrated"] = not status.pending
        except StoreError as exc:
            database["error"] = zap.describe_error(exc)
            problems.append(database["error"])
            return report, EXIT_DATABASE
        if status.pending:
            problems.append(f"{len(status.pending)} migration(s) pending: run `zapjobs migrate`")
            return report, EXIT_DATABASE
        code = 0
        if worker_id is not None:
            found = await zap.get_worker(worker_id)
            if found is None:
                problems.append(f"worker {worker_id!r} is not known")
                code = EXIT_FAILED
            else:
                report["worker"] = worker_dict(found, zap.now(), zap.settings)
                if report["worker"]["state"] != "alive":
                    problems.append(f"worker {worker_id!r} is {report['worker']['state']}")
                    code = EXIT_FAILED
        report["ok"] = code == 0
        return report, code

    report, code = state.run(work)
    if as_json:
        print_json(report)
    else:
        db = report["database"]
        if db["reachable"]:
            state.note(f"database: {db['url']} ({db['server_version']}), reachable")
            state.note("migrations: " + ("up to date" if db["migrated"] else "pending"))
        if report["worker"] is not None:
            w = report["worker"]
            state.note(f"worker {w['id']}: {w['state']} (last seen {w['last_seen_at']})")
        for problem in report["problems"]:
            state.note(f"error: {problem}")
        if report["ok"]:
            state.note("healthy")
    if code:
        raise typer.Exit(code)
