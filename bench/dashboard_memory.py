"""Dashboard memory at scale: is what the dashboard holds bounded by what is on screen?

For each size (default 10,000 and 1,000,000 finished runs) a fresh PostgreSQL schema is filled the
way ``bench/reads.py`` fills it, then a separate process runs the real dashboard headless (Textual's
``run_test`` at 160x45, the ``zapjobs dashboard`` source over a ZapJobs) and walks it as an
operator does: every view, ten pages of the Runs view, a failed-runs filter, and ``--details``
run details (240) opened and closed. It prints the process's resident memory (VmRSS, and the
peak VmHWM) after each phase. If the dashboard held rows in proportion to the history, the 1M
column would grow with it.

Then it leaves the Overview open (``--idle`` seconds, 60) and prints the CPU that costs: the
server's backends of this dashboard and the dashboard process itself.

    .venv/bin/python bench/dashboard_memory.py [--sizes 10000,1000000] [--details 240] [--idle 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import herd  # noqa: E402
import reads  # noqa: E402

from zapjobs import ZapJobs  # noqa: E402

CHECKPOINTS = (30, 60, 120, 240, 480)
REFRESH = 5.0  # the dashboard's default refresh


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB, from /proc (Linux)."""
    found: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return round(found["VmRSS"], 1), round(found["VmHWM"], 1)


async def walk(url: str, details: int, idle: float) -> dict[str, Any]:
    """Run in the child process: drive the dashboard and note memory after each phase; then
    leave the Overview open for ``idle`` seconds and note the CPU it costs (server and own)."""
    from zapjobs_cli.tui.app import make_dashboard
    from zapjobs_cli.tui.source import ZapJobsSource

    figures: dict[str, Any] = {}
    zap = ZapJobs(url)
    async with zap:
        source = ZapJobsSource(zap)
        app = make_dashboard(source, refresh=REFRESH)
        async with app.run_test(size=(160, 45)) as pilot:

            async def settle() -> None:
                await pilot.pause()
                await app.workers.wait_for_complete()
                await pilot.pause()

            async def keys(*pressed: str) -> None:
                for key in pressed:
                    await pilot.press(key)
                    await settle()

            await settle()
            figures["started"] = rss_mb()
            await keys("2", "3", "4", "5", "1")
            figures["views"] = rss_mb()
            await keys("3", *("n" * 10))
            figures["runs_pages"] = rss_mb()
            await keys("slash", *"status:failed", "enter")
            figures["filtered"] = rss_mb()
            opened = 0
            for cycle in range(1, details + 1):
                await keys("enter")
                opened += type(app.screen).__name__ == "RunDetailScreen"
                await keys("escape")
                if cycle in CHECKPOINTS or cycle == details:
                    figures[f"details_{cycle}"] = rss_mb()
            figures["details_opened"] = opened
            await keys("1")
            figures["end"] = rss_mb()
            if idle:
                figures.update(await idle_cost(url, pilot, idle))
        await source.close()
    return figures


async def idle_cost(url: str, pilot: Any, seconds: float) -> dict[str, float]:
    """The CPU an idle Overview costs over ``seconds`` (refreshing every REFRESH s): the server's
    (its backends of this dashboard, found by application_name) and the dashboard process's own,
    as shares of one core."""
    application = conninfo_to_dict(url)["application_name"]
    with psycopg.connect(url, application_name="dashmem-admin", autocommit=True) as admin:
        pids = herd.backend_pids(admin, str(application))
        server, own, started = herd.cpu_seconds(pids), time.process_time(), time.monotonic()
        await pilot.pause(seconds)  # the measurement itself: the dashboard runs meanwhile
        elapsed = time.monotonic() - started
        pids = herd.backend_pids(admin, str(application))  # a refresh may have opened one more
        server = herd.cpu_seconds(pids) - server
    return {
        "idle_server_pct": round(100 * server / elapsed, 2),
        "idle_own_pct": round(100 * (time.process_time() - own) / elapsed, 2),
    }


async def fill(url: str, rows: int) -> str:
    """A migrated schema holding ``rows`` finished runs (and a few live ones); its name."""
    schema = "zapbench_dashmem_" + uuid.uuid4().hex[:8]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    scoped = make_conninfo(url, options=f"-csearch_path={schema}")
    zap = ZapJobs(scoped)
    await zap.open(require_migrated=False)
    await zap.migrate()
    await zap.close()
    with psycopg.connect(scoped, autocommit=True) as conn:
        conn.execute(reads.FILL.format(types=reads.JOB_TYPES).encode(), {"rows": rows})
        conn.execute(reads.LIVE.format(types=reads.JOB_TYPES).encode(), {})
        reads._after_fill(conn)
        conn.execute("VACUUM ANALYZE zapjobs_runs")
    return schema


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--details", type=int, default=240, help="run details opened and closed")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle Overview")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the walk, in a fresh process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(walk(args.child, args.details, args.idle))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[int, dict[str, Any]] = {}
    for size in sizes:
        schema = asyncio.run(fill(args.url, size))
        scoped = make_conninfo(
            args.url, options=f"-csearch_path={schema}", application_name=f"dashmem-{schema}"
        )
        try:
            child = ["--child", scoped, "--details", str(args.details), "--idle", str(args.idle)]
            out = subprocess.run(
                [sys.executable, __file__, *child],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results[size] = json.loads(out.strip().splitlines()[-1])
        finally:
            with psycopg.connect(args.url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    print(f"{'phase':<12}" + "".join(f"{f'{s:,} runs':>22}" for s in sizes))
    print(f"{'':<12}" + "".join(f"{'RSS / peak MB':>22}" for _ in sizes))
    print("run details opened: " + ", ".join(str(results[s]["details_opened"]) for s in sizes))
    phases = ["started", "views", "runs_pages", "filtered"]
    phases += [p for p in results[sizes[0]] if p.startswith("details_") and p != "details_opened"]
    for phase in [*phases, "end"]:
        cells = "".join(f"{f'{results[s][phase][0]} / {results[s][phase][1]}':>22}" for s in sizes)
        print(f"{phase:<12}{cells}")
    if args.idle:
        print(f"idle Overview for {args.idle:g} s, refreshing every {REFRESH:g} s (% of one core):")
        for key, label in (("idle_server_pct", "server"), ("idle_own_pct", "dashboard")):
            print(f"{label:<12}" + "".join(f"{results[s][key]:>22}" for s in sizes))


if __name__ == "__main__":
    main()
