"""``zapjobs bench``: measure this installation (enqueue, drain, pickup latency) on the configured
database, in tables of its own (``zapbench_<random>_``, dropped afterwards; with SQLite, a file
of its own next to the configured one, deleted afterwards)."""

from __future__ import annotations

import asyncio
import secrets
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zapjobs import ZapJobs
from zapjobs.errors import ConfigurationError
from zapjobs.settings import mask_dsn
from zapjobs_cli.benchmark import (
    DEFAULT_DRAINS,
    BenchConfig,
    ZapjobsTarget,
    run_suite,
    suite_steps,
)
from zapjobs_cli.context import get_state
from zapjobs_cli.options import BENCH_JOBS, CONCURRENCY, JsonOption, in_range
from zapjobs_cli.render import new_table, print_json


def register(root: typer.Typer) -> None:
    root.command("bench")(bench_command)


def bench_command(
    ctx: typer.Context,
    quick: Annotated[
        bool, typer.Option("--quick", help="A tiny run (200 jobs): checks the set-up, not speed.")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-n",
            callback=in_range("--jobs", BENCH_JOBS),
            help="Jobs per enqueue and drain scenario (20000).",
        ),
    ] = None,
    concurrency: Annotated[
        int,
        typer.Option(
            "--concurrency",
            callback=in_range("--concurrency", CONCURRENCY),
            help="Jobs in flight per worker process.",
        ),
    ] = 10,
    repeat: Annotated[
        int, typer.Option("--repeat", min=1, max=20, help="Run everything N times; show medians.")
    ] = 1,
    as_json: JsonOption = False,
) -> None:
    """Benchmark zapjobs on the configured database, with worker processes like production's.

    Scenarios: enqueue one at a time and in bulk; drain with one worker process and with two
    (concurrency 10), and one process at concurrency 100; pickup latency of an idle worker at
    50 jobs/s. Runs in its own tables, dropped at the end; your jobs are not touched. Numbers
    vary from run to run: compare medians (--repeat 3) taken on a quiet machine.

    JSON: {"database", "backend", "config", "results": {scenario: {metric: median}},
    "repeats": [{scenario: {metric: value}}]}.

    Example: zapjobs bench --repeat 3
    """
    state = get_state(ctx)
    base = BenchConfig(concurrency=concurrency)
    config = base.quick() if quick else base
    if jobs is not None:
        config = BenchConfig(**{**config.as_dict(), "jobs": jobs})
    settings = state.settings
    url, prefix, cleanup = bench_location(settings.database_url)
    steps = suite_steps(DEFAULT_DRAINS)
    repeats: list[dict[str, dict[str, Any]]] = []
    with Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=state.err,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=len(steps) * repeat)
        started = [0]

        def advance(step: str) -> None:
            progress.update(task, description=step, completed=started[0])
            started[0] += 1

        try:
            for _ in range(repeat):
                repeats.append(asyncio.run(_one_run(url, prefix, config, advance)))
            progress.update(task, completed=len(steps) * repeat)
        finally:
            cleanup()
    results = medians(repeats)
    database = mask_dsn(settings.database_url)
    document = {
        "database": database,
        "backend": "sqlite" if url.startswith("sqlite:") else "postgres",
        "config": config.as_dict(),
        "results": results,
        "repeats": repeats,
    }
    if as_json:
        print_json(document)
    else:
        state.out.print(render(results, repeat, database))


async def _one_run(
    url: str, prefix: str, config: BenchConfig, progress: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    target = ZapjobsTarget(url, prefix, config)
    try:
        await target.open()
        return await run_suite(target, config, progress=progress)
    finally:
        await target.close()


def bench_location(url: str) -> tuple[str, str, Callable[[], None]]:
    """(database URL, table prefix, cleanup) of the benchmark's own installation."""
    token = secrets.token_hex(3)
    lowered = url.strip().lower()
    if lowered.startswith("memory:"):
        raise ConfigurationError(
            "zapjobs bench needs PostgreSQL or SQLite: a memory:// store lives in one process",
            hint="pass -c postgresql://... or -c sqlite:///file.db",
        )
    if lowered.startswith("sqlite:"):
        configured = Path(url.strip()[len("sqlite:///") :]).resolve()
        path = configured.parent / f"zapbench-{token}.db"

        def remove_files() -> None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)

        return f"sqlite:///{path}", "zapjobs_", remove_files
    prefix = f"zapbench_{token}_"
    return url, prefix, lambda: drop_prefixed_tables(url, prefix)


def drop_prefixed_tables(url: str, prefix: str) -> None:
    """Drop the benchmark's own installation (the tables of ``prefix``) through the library."""

    async def uninstall() -> None:
        zap = ZapJobs(url, table_prefix=prefix)
        try:
            await zap.uninstall()
        finally:
            await zap.close()

    asyncio.run(uninstall())


def medians(repeats: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per scenario, the median of each numeric metric over the repeats (text kept as is)."""
    result: dict[str, dict[str, Any]] = {}
    for scenario in repeats[0] if repeats else {}:
        samples = [r[scenario] for r in repeats if scenario in r]
        merged: dict[str, Any] = {}
        for name, first in samples[0].items():
            if isinstance(first, int | float) and not isinstance(first, bool):
                merged[name] = statistics.median(s[name] for s in samples)
            else:
                merged[name] = first
        result[scenario] = merged
    return result


_LABELS = {
    "enqueue_single": "enqueue, one call per job",
    "enqueue_bulk": "enqueue, bulk (enqueue_many)",
    "drain_1x10": "drain, 1 worker process",
    "drain_2x10": "drain, 2 worker processes",
    "drain_best_1": "drain, 1 process, concurrency 100",
}


def render(results: dict[str, dict[str, Any]], repeat: int, database: str) -> Any:
    title = f"zapjobs bench on {database}" + (f" (medians of {repeat})" if repeat > 1 else "")
    table = new_table("scenario", "result", "detail", title=title)
    for scenario, label in _LABELS.items():
        values = results.get(scenario)
        if values is None:
            continue
        detail = f"{values['jobs']:,} jobs"
        if "peak_rss_mb" in values:
            detail += f", {values['setting']}, worker peak RSS {values['peak_rss_mb']:.0f} MB"
        table.add_row(label, f"{values['jobs_per_s']:,.0f} jobs/s", detail)
    latency = results.get("latency")
    if latency is not None:
        table.add_row(
            "pickup latency, idle worker",
            f"p50 {latency['p50_ms']:.1f} ms, p95 {latency['p95_ms']:.1f} ms, "
            f"p99 {latency['p99_ms']:.1f} ms",
            f"{latency['jobs']:,} jobs at {latency['rate_per_s']:g}/s",
        )
    return table
