"""The side-by-side benchmark of issue 8: zapjobs, procrastinate and pgqueuer (psycopg and asyncpg)
on one PostgreSQL, each on a fresh schema, plus pgbench's ceiling and zapjobs on SQLite.

    bench/setup.sh                                    # once: bench/.venv with the peers
    bench/.venv/bin/python bench/run.py --repeat 3    # the full run (about 15 minutes)
    bench/.venv/bin/python bench/run.py --quick --systems zapjobs   # smoke (seconds)

Prints one table and writes every figure to a JSON file (bench/results/, git-ignored). See
bench/README.md for what each scenario measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from rich.console import Console

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

import pgbench  # noqa: E402
import report  # noqa: E402

from zapjobs.settings import mask_dsn  # noqa: E402
from zapjobs_cli.benchmark import (  # noqa: E402
    ALL_DRAINS,
    BenchConfig,
    Drain,
    WorkerProcess,
    ZapjobsTarget,
    measure_drain,
    measure_enqueue,
    measure_herd,
    measure_latency,
    measure_lateness,
)

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
SUITE_SYSTEMS = ("zapjobs", "procrastinate", "pgqueuer-psycopg", "pgqueuer-asyncpg")
SCENARIOS = ("enqueue", "drain", "latency", "lateness", "herd", "scale", "pgbench", "sqlite")
DRAIN_NAMES = tuple(d.name for d in ALL_DRAINS)
# procrastinate fetches one job per query whatever its concurrency: no "best setting" to try
NO_BEST_SETTING = frozenset({"procrastinate", "zapjobs-sqlite"})
PEER_MODULES = {
    "procrastinate": ("procrastinate",),
    "pgqueuer-psycopg": ("pgqueuer",),
    "pgqueuer-asyncpg": ("pgqueuer", "asyncpg"),
}
SCALE_ROWS, QUICK_SCALE_ROWS = 1_000_000, 10_000
PGBENCH_SECONDS, QUICK_PGBENCH_SECONDS = 10, 1

PREFILL_SQL = """
INSERT INTO zapjobs_runs (job_type, queue, priority, status, input, attempt, run_at, created_at,
                          started_at, finished_at, worker_id)
SELECT 'zapbench-noop', 'default', 0, 'succeeded', to_jsonb(g), 1, x.t, x.t, x.t,
       x.t + interval '1 millisecond', 'prefill'
FROM generate_series(1, %(rows)s) AS g,
     LATERAL (SELECT now() - interval '2 days' + g * interval '100 milliseconds') AS x(t)
"""


class Bench:
    """One invocation: the options, the figures gathered so far, and the failures."""

    def __init__(self, args: argparse.Namespace, console: Console) -> None:
        self.args = args
        self.console = console
        self.url: str = args.url
        base = BenchConfig(jobs=args.n) if args.n else BenchConfig()
        self.config = base.quick() if args.quick else base
        if args.quick and args.n:
            self.config = replace(self.config, jobs=args.n)
        self.runs: report.Runs = {}
        self.errors: list[dict[str, Any]] = []
        self.spies: list[subprocess.Popen[bytes]] = []  # py-spy recorders (--profile)

    def record(self, system: str, scenario: str, value: dict[str, Any] | None) -> None:
        samples = self.runs.setdefault(system, {}).setdefault(scenario, [])
        samples.append(value)

    async def measure(
        self, repeat: int, system: str, scenario: str, step: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Run one measurement; a failure is recorded (and printed), never fatal to the rest."""
        started = time.monotonic()
        try:
            value = await step()
        except Exception as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            self.errors.append(
                {"repeat": repeat, "system": system, "scenario": scenario, "error": message}
            )
            self.console.print(f"  [red]{system} {scenario}: failed: {message}[/red]")
            self.record(system, scenario, None)
            return None
        self.record(system, scenario, value)
        shown = _headline(value)
        self.console.print(f"  {system} {scenario}: {shown} ({time.monotonic() - started:.1f}s)")
        return value

    # --- installations ------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def schema(self) -> AsyncIterator[tuple[str, str]]:
        """A fresh schema: (its name, a conninfo whose search_path is it); dropped afterwards."""
        name = "zapbench_" + secrets.token_hex(4)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        try:
            yield name, make_conninfo(self.url, options=f"-csearch_path={name}")
        finally:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    @contextlib.asynccontextmanager
    async def target(self, system: str) -> AsyncIterator[Any]:
        """The system under test, open on a fresh installation of its own."""
        if system == "zapjobs-sqlite":
            folder = tempfile.mkdtemp(prefix="zapbench-sqlite-")
            try:
                url = f"sqlite:///{folder}/bench.db"
                async with _opened(ZapjobsTarget(url, "zapjobs_", self.config, name=system)) as t:
                    yield t
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return
        async with self.schema() as (schema, conninfo):
            if system in ("zapjobs", "zapjobs-1m"):
                target: Any = ZapjobsTarget(conninfo, "zapjobs_", self.config, name=system)
            else:
                from peers import peer_target

                target = peer_target(system, conninfo, schema, self.config)
            async with _opened(target) as opened:
                yield opened

    def profiler(self, label: str) -> Callable[[WorkerProcess], None] | None:
        """With --profile DIR: attach py-spy to each drain worker (a flame graph per process)."""
        folder: Path | None = self.args.profile
        if folder is None:
            return None
        spy = shutil.which("py-spy")
        if spy is None:
            raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
        folder.mkdir(parents=True, exist_ok=True)

        def attach(worker: WorkerProcess) -> None:
            kind = self.args.profile_format
            out = folder / f"{label}-{worker.pid}.{'svg' if kind == 'flamegraph' else 'txt'}"
            argv = [spy, "record", "--pid", str(worker.pid), "--rate", "250", "--format", kind]
            argv += os.environ.get("ZAPBENCH_PYSPY_ARGS", "").split()  # e.g. "--native --idle"
            self.spies.append(
                subprocess.Popen(
                    [*argv, "-o", str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

        return attach

    # --- scenarios ----------------------------------------------------------------------------
    async def enqueue(self, repeat: int, system: str) -> None:
        for scenario, bulk in (("enqueue_single", False), ("enqueue_bulk", True)):
            async with self.target(system) as target:

                async def step(target: Any = target, bulk: bool = bulk) -> dict[str, float]:
                    return await measure_enqueue(target, self.config, bulk=bulk)

                await self.measure(repeat, system, scenario, step)

    async def drain(self, repeat: int, system: str, drains: tuple[Drain, ...]) -> None:
        for drain in drains:
            if drain.profile == "best" and system in NO_BEST_SETTING:
                continue
            async with self.target(system) as target:

                async def step(target: Any = target, drain: Drain = drain) -> dict[str, Any]:
                    await measure_enqueue(target, self.config, bulk=True)
                    label = f"{system}-{drain.name}-r{repeat}"
                    server_before = postgres_cpu_seconds()
                    figures = await measure_drain(
                        target, self.config, drain, on_ready=self.profiler(label)
                    )
                    return {**figures, **_server_cpu(server_before, figures["jobs"])}

                await self.measure(repeat, system, drain.name, step)

    async def on_fresh(
        self, repeat: int, system: str, scenario: str, step: Callable[[Any], Awaitable[Any]]
    ) -> None:
        """One measurement on a fresh installation of ``system``: ``step(target)``."""
        async with self.target(system) as target:
            await self.measure(repeat, system, scenario, lambda: step(target))

    async def latency(self, repeat: int, system: str) -> None:
        await self.on_fresh(repeat, system, "latency", lambda t: measure_latency(t, self.config))

    async def lateness(self, repeat: int, system: str) -> None:
        await self.on_fresh(
            repeat, system, "lateness", lambda t: measure_lateness(t, self.config, seed=repeat)
        )

    async def herd(self, repeat: int, system: str) -> None:
        await self.on_fresh(
            repeat,
            system,
            "herd",
            lambda t: measure_herd(t, self.config, server_cpu=postgres_cpu_seconds),
        )

    async def scale(self, repeat: int) -> None:
        """Scenario 4: drain 1x10 on an empty table, then with finished runs pre-inserted."""
        rows = QUICK_SCALE_ROWS if self.args.quick else SCALE_ROWS
        drain = Drain("drain_1x10", 1, "default")
        for scenario, prefill in (("drain_1x10_empty", 0), ("drain_1x10", rows)):
            async with self.target("zapjobs-1m") as target:

                async def step(target: Any = target, prefill: int = prefill) -> dict[str, Any]:
                    await asyncio.to_thread(_prefill, target.url, prefill)
                    await measure_enqueue(target, self.config, bulk=True)
                    return {**await measure_drain(target, self.config, drain), "rows": prefill}

                await self.measure(repeat, "zapjobs-1m", scenario, step)

    async def pgbench(self, repeat: int) -> None:
        binary = pgbench.find_pgbench()
        if binary is None:
            self.console.print("[yellow]skipping the ceiling: pgbench not found[/yellow]")
            return
        seconds = QUICK_PGBENCH_SECONDS if self.args.quick else PGBENCH_SECONDS
        for variant in pgbench.VARIANTS:
            async with self.schema() as (_, conninfo):

                async def step(conninfo: str = conninfo, variant: Any = variant) -> Any:
                    return await asyncio.to_thread(
                        pgbench.run_variant, conninfo, variant, seconds, binary
                    )

                await self.measure(repeat, "postgresql", variant.name, step)

    async def run(self) -> int:
        systems = self.systems()
        only = set(self.args.only)
        drains = tuple(d for d in ALL_DRAINS if d.name in self.args.drains)
        for repeat in range(1, self.args.repeat + 1):
            self.console.print(f"[bold]repeat {repeat} of {self.args.repeat}[/bold]")
            for system in systems:
                if "enqueue" in only:
                    await self.enqueue(repeat, system)
                if "drain" in only:
                    await self.drain(repeat, system, drains)
                if "latency" in only:
                    await self.latency(repeat, system)
                if "lateness" in only:
                    await self.lateness(repeat, system)
                if "herd" in only:
                    await self.herd(repeat, system)
            if "zapjobs" in systems:
                if "scale" in only:
                    await self.scale(repeat)
                if "sqlite" in only:
                    sqlite = "zapjobs-sqlite"
                    await self.enqueue(repeat, sqlite)
                    default = tuple(d for d in drains if d.profile == "default")
                    await self.drain(repeat, sqlite, default)
                    await self.latency(repeat, sqlite)
                    if "lateness" in only:
                        await self.lateness(repeat, sqlite)
            if "pgbench" in only:
                await self.pgbench(repeat)
        return 1 if self.errors else 0

    def systems(self) -> list[str]:
        chosen = []
        for system in self.args.systems:
            missing = [m for m in PEER_MODULES.get(system, ()) if not _importable(m)]
            if missing:
                self.console.print(
                    f"[yellow]skipping {system}: {', '.join(missing)} not installed "
                    "(run bench/setup.sh and use bench/.venv/bin/python)[/yellow]"
                )
                continue
            chosen.append(system)
        return chosen


@contextlib.asynccontextmanager
async def _opened(target: Any) -> AsyncIterator[Any]:
    await target.open()
    try:
        yield target
    finally:
        with contextlib.suppress(Exception):
            await target.close()


def postgres_cpu_seconds() -> float | None:
    """CPU time (user + system) used so far by the local PostgreSQL server: every process named
    postgres, plus what its exited children used (the postmaster's cutime/cstime), so backends
    that come and go during a drain count. Meaningful only when nothing else uses the server."""
    if not os.path.isdir("/proc"):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        if name.startswith("postgres"):
            fields = stat[stat.rfind(")") + 2 :].split()
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / ticks


def _server_cpu(before: float | None, jobs: int) -> dict[str, float]:
    """The server CPU spent around one drain (its start-up and the bench's polling included)."""
    after = postgres_cpu_seconds()
    if before is None or after is None:
        return {}
    spent = after - before
    return {"server_cpu_s": spent, "server_cpu_ms_per_1k_jobs": spent * 1e6 / jobs}


def _prefill(conninfo: str, rows: int) -> None:
    """Insert ``rows`` finished runs (none for the empty case), then let the server settle the
    same way in both cases: VACUUM ANALYZE, and a CHECKPOINT so the drain does not also pay for
    earlier write-ahead log (full-page images after a checkpoint the prefill itself set off).
    Without the right to CHECKPOINT, it goes on."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if rows:
            conn.execute(PREFILL_SQL, {"rows": rows})
        conn.execute("VACUUM ANALYZE zapjobs_runs")
        with contextlib.suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _headline(value: dict[str, Any]) -> str:
    if "p99_ms" in value:
        return f"p50 {value['p50_ms']:.1f} ms, p99 {value['p99_ms']:.1f} ms"
    shown = f"{value['jobs_per_s']:,.0f} jobs/s"
    if "peak_rss_mb" in value:
        shown += f", peak RSS {value['peak_rss_mb']:.0f} MB"
    return shown


def machine(url: str) -> dict[str, Any]:
    """What the figures were measured on."""
    info: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": _cpu_count(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "memory": _proc_field("/proc/meminfo", "MemTotal"),
        "load_average": list(_loadavg()),
        "database": mask_dsn(url),
    }
    with contextlib.suppress(psycopg.Error), psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        info["postgresql"] = row[0] if row else None
    from importlib.metadata import PackageNotFoundError, version

    packages = {}
    for name in ("zapjobs", "procrastinate", "pgqueuer", "asyncpg", "psycopg"):
        with contextlib.suppress(PackageNotFoundError):
            packages[name] = version(name)
    info["packages"] = packages
    return info


def _cpu_count() -> int | None:
    return os.cpu_count()


def _loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def _proc_field(path: str, name: str) -> str | None:
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            if key.strip() == name:
                return value.strip()
    return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def names(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
        def parse(text: str) -> list[str]:
            chosen = [part.strip() for part in text.split(",") if part.strip()]
            unknown = [c for c in chosen if c not in choices]
            if unknown or not chosen:
                raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
            return chosen

        return parse

    parser = argparse.ArgumentParser(description="zapjobs vs procrastinate vs pgqueuer")
    parser.add_argument("--url", default=DEFAULT_URL, help="PostgreSQL to run on")
    parser.add_argument("--n", type=int, default=None, help="jobs per enqueue/drain (20000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of everything (medians)")
    parser.add_argument(
        "--only", type=names(SCENARIOS), default=list(SCENARIOS), help=",".join(SCENARIOS)
    )
    parser.add_argument(
        "--systems",
        type=names(SUITE_SYSTEMS),
        default=list(SUITE_SYSTEMS),
        help=",".join(SUITE_SYSTEMS),
    )
    parser.add_argument(
        "--drains", type=names(DRAIN_NAMES), default=list(DRAIN_NAMES), help=",".join(DRAIN_NAMES)
    )
    parser.add_argument("--quick", action="store_true", help="tiny N: checks, not figures")
    parser.add_argument("--output", type=Path, default=None, help="the JSON file to write")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy flame graphs of drain workers here"
    )
    parser.add_argument(
        "--profile-format",
        choices=("flamegraph", "raw"),
        default="flamegraph",
        help="py-spy's output: an SVG flame graph, or raw collapsed stacks (text)",
    )
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=True)
    bench = Bench(args, console)
    started = datetime.now(UTC)
    meta = machine(args.url)
    try:
        code = await bench.run()
    finally:
        for spy in bench.spies:  # each stops when its worker exits; wait for the file
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.kill()
    meta["load_average_after"] = list(_loadavg())
    document = {
        "meta": {**meta, "started_at": started.isoformat(), "repeats": args.repeat},
        "config": {**bench.config.as_dict(), "quick": args.quick, "only": args.only},
        "runs": bench.runs,
        "medians": report.medians(bench.runs),
        "ratios": report.ratios(bench.runs),
        "errors": bench.errors,
    }
    output = args.output or HERE / "results" / f"bench-{started:%Y%m%dT%H%M%SZ}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    report.render(bench.runs, args.repeat, Console(width=None if sys.stdout.isatty() else 170))
    console.print(f"figures written to {output}")
    return code


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
