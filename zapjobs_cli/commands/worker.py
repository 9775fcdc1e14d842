"""``zapjobs worker``: import the app, print a banner, run jobs until stopped."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from zapjobs import ValidationError, WorkerSummary, ZapJobs
from zapjobs_cli.context import get_state
from zapjobs_cli.options import CONCURRENCY, duration_option, in_range, port_option
from zapjobs_cli.render import display_dsn
from zapjobs_cli.worker_log import EventPrinter, configure_logging


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def register(root: typer.Typer) -> None:
    root.command("worker")(worker)


def worker(
    ctx: typer.Context,
    queues: Annotated[
        str | None,
        typer.Option("--queues", "-Q", metavar="Q1,Q2", help="Queues to serve, in priority order."),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-n",
            callback=in_range("--concurrency", CONCURRENCY),
            help="Jobs run at once.",
        ),
    ] = None,
    burst: Annotated[
        bool, typer.Option("--burst", help="Exit once nothing is due and nothing runs.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="No line per finished run, no job logs.")
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="stderr as text or JSON lines.")
    ] = LogFormat.TEXT,
    shutdown_timeout: Annotated[
        str | None,
        typer.Option(
            "--shutdown-timeout",
            metavar="DURATION",
            help="On stop, how long running jobs may finish (default: the setting, 30s).",
        ),
    ] = None,
    worker_id: Annotated[
        str | None,
        typer.Option(
            "--worker-id", metavar="ID", help="Name this worker (for `zapjobs health --worker`)."
        ),
    ] = None,
    metrics_port: Annotated[
        str | None,
        typer.Option(
            "--metrics-port",
            metavar="PORT",
            help="Serve Prometheus metrics on http://HOST:PORT/metrics (HOST: the metrics_host "
            "setting, 127.0.0.1). Needs zapjobs[metrics].",
        ),
    ] = None,
) -> None:
    """Run jobs from your app (--app module:attr) until stopped.

    The first SIGTERM or Ctrl-C stops claiming and lets running jobs finish (up to
    --shutdown-timeout); a second one cancels them at once. Either way unfinished runs go back
    to pending. A worker stopped this way exits 0.

    Example: `zapjobs --app myproject.jobs:zap worker --queues critical,default --concurrency 8`
    """
    state = get_state(ctx)
    # Split only: ZapJobs.run_worker validates and de-duplicates the list, once.
    served = [name.strip() for name in queues.split(",")] if queues is not None else None
    grace = duration_option(shutdown_timeout, "--shutdown-timeout")
    port = port_option(metrics_port, "--metrics-port")
    if worker_id is not None and not worker_id.strip():
        raise ValidationError("--worker-id must not be empty")
    configure_logging(json_lines=log_format is LogFormat.JSON, quiet=quiet, scrub=state.scrub)

    async def work(zap: ZapJobs) -> WorkerSummary:
        await zap.open()
        version = await zap.server_version()
        printer = EventPrinter(
            store=display_dsn(zap.settings.database_url), server_version=version, quiet=quiet
        )
        summary: WorkerSummary = await zap.run_worker(
            queues=served,
            concurrency=concurrency,
            burst=burst,
            worker_id=worker_id,
            shutdown_timeout=grace,
            on_event=printer,
            metrics_port=port,
        )
        return summary

    state.run(work, need_app=True, register=True)
