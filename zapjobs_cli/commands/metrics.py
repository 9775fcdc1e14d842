"""``zapjobs metrics``: a Prometheus exporter of queue-level gauges read from the database."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from zapjobs import ZapJobs
from zapjobs.errors import ValidationError
from zapjobs.settings import validate_host
from zapjobs_cli.context import get_state
from zapjobs_cli.options import duration_option, port_option

DEFAULT_PORT = 9465


def register(root: typer.Typer) -> None:
    root.command("metrics")(metrics)


def metrics(
    ctx: typer.Context,
    port: Annotated[
        str,
        typer.Option(
            "--port", metavar="PORT", help=f"Listen on this port (default {DEFAULT_PORT})."
        ),
    ] = str(DEFAULT_PORT),
    host: Annotated[
        str,
        typer.Option("--host", metavar="ADDRESS", help="Listen on this address (0.0.0.0: all)."),
    ] = "127.0.0.1",
    window: Annotated[
        str,
        typer.Option("--window", metavar="DURATION", help="Count failures of this recent window."),
    ] = "5m",
    cache: Annotated[
        str,
        typer.Option("--cache", metavar="DURATION", help="Reuse a read this long between scrapes."),
    ] = "5s",
) -> None:
    """Serve queue metrics for Prometheus on http://HOST:PORT/metrics until stopped: runs pending,
    scheduled and running per queue and job type, the oldest pending age and the workers alive
    per queue, failures in the last --window. Each scrape reads the database (three cheap
    statements), at most once per --cache. Needs zapjobs[metrics].

    Example: `zapjobs metrics --port 9465 --host 0.0.0.0`
    """
    state = get_state(ctx)
    number = port_option(port, "--port")
    assert number is not None
    address = _host_option(host)
    span = duration_option(window, "--window")
    max_age = duration_option(cache, "--cache")
    assert span is not None and max_age is not None
    if span.total_seconds() <= 0:
        raise ValidationError("--window must be greater than zero", hint="e.g. --window 5m")

    async def serve(zap: ZapJobs) -> None:
        from zapjobs.metrics import MetricsServer, QueueMetrics

        collector = QueueMetrics(
            zap, asyncio.get_running_loop(), window=span, max_age=max_age.total_seconds()
        )
        server = MetricsServer(collector.registry, host=address, port=number)  # before the DB
        try:
            await zap.open()
            sys.stderr.write(f"serving queue metrics on {server.url} (Ctrl-C to stop)\n")
            await _until_stopped()
        finally:
            server.close()

    state.run(serve)


def _host_option(value: str) -> str:
    from zapjobs.errors import ConfigurationError

    try:
        return validate_host(value, name="--host")
    except ConfigurationError as exc:
        raise ValidationError(exc.message, hint=exc.hint) from None


async def _until_stopped() -> None:
    """Until SIGTERM or SIGINT (then exit 0, as a stopped worker does)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
