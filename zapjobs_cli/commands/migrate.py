"""``zapjobs migrate``: apply pending migrations, or list applied and pending ones."""

from __future__ import annotations

from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.models import MigrationStatus
from zapjobs_cli.context import CliState, get_state
from zapjobs_cli.options import JsonOption
from zapjobs_cli.render import display_dsn, migration_dict, new_table, print_json


def register(root: typer.Typer) -> None:
    root.command("migrate")(migrate)


def migrate(
    ctx: typer.Context,
    status: Annotated[
        bool, typer.Option("--status", help="List applied and pending migrations; change nothing.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be applied; change nothing.")
    ] = False,
    sql: Annotated[bool, typer.Option("--sql", help="With --dry-run: print their SQL.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or upgrade the zapjobs tables (safe to run again: only pending migrations run).

    Example: `zapjobs migrate -c postgresql://app@db/app`, then `zapjobs migrate --status`
    """
    state = get_state(ctx)

    async def work(zap: ZapJobs) -> None:
        before = await zap.migration_status()
        if status or dry_run:
            show(state, before, as_json=as_json, dry_run=dry_run, sql=sql)
            return
        where = display_dsn(zap.settings.database_url)
        if not before.pending:
            state.note(f"{where}: up to date, nothing to apply")
        applied = await zap.migrate()
        names = {m.version: m.name for m in before.available}
        for version in applied:
            state.note(f"applied {version:04d}_{names.get(version, '')}".rstrip("_"))
        after = await zap.migration_status()
        if as_json:
            print_json({**migration_dict(after), "applied_now": applied})
        elif applied:
            state.note(f"{where}: {len(applied)} migration(s) applied, now up to date")

    state.run(work, register=not (status or dry_run))


def show(
    state: CliState, status: MigrationStatus, *, as_json: bool, dry_run: bool, sql: bool
) -> None:
    if as_json:
        print_json(migration_dict(status))
        return
    table = new_table("VERSION", "NAME", "STATE")
    pending = {m.version for m in status.pending}
    for m in status.available:
        table.add_row(f"{m.version:04d}", m.name, "pending" if m.version in pending else "applied")
    for version in status.applied:
        if version not in {m.version for m in status.available}:
            table.add_row(f"{version:04d}", "?", "applied (unknown to this version)")
    state.out.print(table)
    if dry_run:
        verb = (
            f"would apply {len(status.pending)} migration(s)"
            if status.pending
            else "nothing to apply"
        )
        state.note(f"dry run: {verb}")
        if sql:
            for m in status.pending:
                state.out.print(f"-- {m.version:04d}_{m.name}", markup=False, highlight=False)
                state.out.print(m.sql, markup=False, highlight=False)
