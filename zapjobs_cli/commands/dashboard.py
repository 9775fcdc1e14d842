"""``zapjobs dashboard``: the full-screen terminal UI (zapjobs_cli.tui), opened on the
configured database."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from zapjobs.errors import ConfigurationError
from zapjobs_cli.context import get_state
from zapjobs_cli.options import duration_option


def register(root: typer.Typer) -> None:
    root.command("dashboard")(dashboard)


def dashboard(
    ctx: typer.Context,
    refresh: Annotated[
        str, typer.Option("--refresh", metavar="DURATION", help="How often the screens refresh.")
    ] = "5s",
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Look only: no retry, cancel, delete or trigger.")
    ] = False,
) -> None:
    """Open the live dashboard: overview, jobs, runs, run details with logs, workers.

    Example: `zapjobs dashboard -c sqlite:///zapjobs-demo.db --refresh 2s`
    """
    if not sys.stdout.isatty():  # a full-screen UI drawn into a pipe never ends
        raise ConfigurationError(
            "the dashboard needs a terminal (stdout is not a TTY)",
            hint="run it in a terminal; for scripts use `zapjobs status --json`",
        )
    state = get_state(ctx)
    period = duration_option(refresh, "--refresh")
    from zapjobs_cli.tui.app import run_dashboard  # textual loads only for this command

    zap = state.zap(register=not read_only)  # --read-only: never writes, even on start-up
    run_dashboard(
        zap, refresh=period.total_seconds() if period is not None else 5.0, read_only=read_only
    )
