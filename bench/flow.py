"""Flow control (issue 15): what concurrency caps and rate limits cost, and whether they hold.

    .venv/bin/python bench/flow.py                     # PostgreSQL, all four, ~2 min
    .venv/bin/python bench/flow.py --only claim --n 5000 --repeat 1   # a quick look

Scenarios, each on a fresh schema of its own:
- ``claim``: drain 1x10 (``--n`` no-op runs, one worker at concurrency 10, in this process) in
  three installations, alternated ``--repeat`` times (each first in turn): ``uncapped``;
  ``others-limited`` (a cap and a rate limit on a job type and a queue this worker does not
  serve: the claim probes the limits and takes its unlimited path); ``limited`` (the drained
  job type itself has a cap of 1,000 and a rate limit of 1,000,000/s, never reached: about once
  a second a limited claim counts running runs, bumps the limits row and grants the worker a
  share of both; the claims in between check that grant, on PostgreSQL). jobs/s (medians) and
  the time each takes more than ``uncapped``: of the medians, and paired (the median over
  rounds of the time over that round's ``uncapped``).
- ``cap``: 8 worker processes (concurrency 4 each) and ``--cap-runs`` runs (300) of a job type
  with a cap of 3, each sleeping 50 ms; the running runs of that type sampled in the database
  every few ms while any is pending: the most seen, and the mean while work waits (3 is ideal).
- ``cap-wide``: as ``cap`` with a cap of 100, 12 processes at concurrency 10 and ten times the
  runs: a cap the workers together could use, so no claim is granted a share (PostgreSQL's
  grants leave room for every other live worker's concurrency); prints how many workers were
  seen holding a grant.
- ``rate``: 4 worker processes (concurrency 10 each), a rate limit of 100/s, a backlog of
  ``--rate-runs`` no-op runs (1,500); starts per second (from ``started_at``) over the whole
  seconds of the drain (the first and last, partial, left out): mean, min and max.

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import psycopg
from procs import ready_processes
from psycopg.conninfo import make_conninfo
from rounds import alternated

from zapjobs import FlowLimit, JobContext, LimitScope, RateLimit, RunFilter, RunStatus, ZapJobs
from zapjobs.testing import store_of

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 300.0


def build(url: str, *, cap: int | None = None, rate: str | None = None) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, enable_scheduler=False, polling_interval="5s")

    @zap.job("noop")
    async def noop(ctx: JobContext[int]) -> None:
        return None

    @zap.job("capped", max_concurrency=cap)
    async def capped(ctx: JobContext[float]) -> None:
        await asyncio.sleep(ctx.input)

    @zap.job("ping", rate_limit=rate)
    async def ping(ctx: JobContext[int]) -> None:
        return None

    return zap


# --- worker processes ----------------------------------------------------------------------------
async def worker_main(url: str, concurrency: int, cap: int, rate: str) -> None:
    from zapjobs.runtime.events import WorkerStarted

    zap = build(url, cap=cap, rate=rate)

    def on_event(event: object) -> None:
        if isinstance(event, WorkerStarted):
            print("ready", flush=True)

    try:
        await zap.run_worker(concurrency=concurrency, on_event=on_event)
    finally:
        await zap.close()


@contextmanager
def worker_processes(url: str, count: int, concurrency: int, cap: int, rate: str) -> Iterator[None]:
    argv = [sys.executable, __file__, "--worker", url, str(concurrency), str(cap), rate]
    with ready_processes(argv, count):
        yield


@asynccontextmanager
async def schema(url: str) -> AsyncIterator[str]:
    name = "zapbench_" + secrets.token_hex(4)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield make_conninfo(url, options=f"-csearch_path={name}")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# --- claim cost ----------------------------------------------------------------------------------
async def drain_once(base: str, n: int, setting: str) -> float:
    async with schema(base) as url:
        zap = build(url)
        try:
            await zap.open()
            if setting == "others-limited":  # job types and queues this worker does not serve
                await store_of(zap).declare_flow_limits(
                    [
                        FlowLimit(LimitScope.JOB, "elsewhere", 3, RateLimit(10, 1)),
                        FlowLimit(LimitScope.QUEUE, "other", max_concurrency=2),
                    ]
                )
            elif setting == "limited":
                await zap.set_job_limits("noop", max_concurrency=1000, rate_limit="1000000/s")
            for offset in range(0, n, 1000):
                await zap.enqueue_many("noop", list(range(offset, min(n, offset + 1000))))
            started = time.perf_counter()
            summary = await zap.run_worker(
                burst=True, concurrency=10, queues=["default"], install_signal_handlers=False
            )
            elapsed = time.perf_counter() - started
            assert summary.succeeded == n, summary
            return n / elapsed
        finally:
            await zap.close()


async def claim_cost(base: str, n: int, repeat: int) -> None:
    settings = ("uncapped", "others-limited", "limited")
    rates = await alternated(settings, repeat, lambda s: drain_once(base, n, s), "claim")
    base_rate = statistics.median(rates["uncapped"])
    print(f"claim cost, drain 1x10 of {n} no-op runs, medians of {repeat}:")
    for setting in settings:
        rate = statistics.median(rates[setting])
        # paired: the time over the uncapped drain of the same round (a noisy phase of the
        # machine moves both), then the median over the rounds
        paired = statistics.median(
            u / x - 1 for u, x in zip(rates["uncapped"], rates[setting], strict=True)
        )
        print(
            f"  {setting:15} {rate:8,.0f} jobs/s   {100 * (base_rate / rate - 1):+5.1f}% time"
            f"   paired {100 * paired:+5.1f}%"
        )


# --- a cap across processes ----------------------------------------------------------------------
async def cap_hold(base: str, runs: int, cap: int, processes: int, concurrency: int) -> None:
    async with schema(base) as url:
        zap = build(url, cap=cap)
        granted: set[str] = set()
        try:
            await zap.open()
            with worker_processes(url, processes, concurrency, cap, "1000000/s"):
                started = time.monotonic()
                await zap.enqueue_many("capped", [0.05] * runs)
                samples: list[int] = []
                with psycopg.connect(url, autocommit=True) as conn:
                    # the workers holding a share of the cap (migration 0013, PostgreSQL)
                    [(grants,)] = conn.execute("SELECT to_regclass('zapjobs_flow_grants')")
                    while time.monotonic() - started < DEADLINE:
                        [(running, pending)] = conn.execute(
                            "SELECT count(*) FILTER (WHERE status = 'running'),"
                            " count(*) FILTER (WHERE status = 'pending')"
                            " FROM zapjobs_runs WHERE job_type = 'capped'"
                        ).fetchall()
                        if pending == 0:
                            break
                        samples.append(running)
                        if grants:
                            holders = conn.execute("SELECT worker_id FROM zapjobs_flow_grants")
                            granted.update(w for (w,) in holders)
                        await asyncio.sleep(0.003)
                elapsed = time.monotonic() - started
                await settle(zap)
            done = await zap.count_runs(RunFilter(statuses=(RunStatus.SUCCEEDED,)))
        finally:
            await zap.close()
    print(
        f"cap {cap}, {processes} worker processes x concurrency {concurrency}, {runs} runs of "
        f"50 ms: max running {max(samples)}, mean running while work waits "
        f"{statistics.mean(samples):.2f} ({len(samples)} samples over {elapsed:.1f}s; ideal "
        f"{cap:.2f}), succeeded {done}/{runs}, workers seen holding a grant {len(granted)}"
    )


async def settle(zap: ZapJobs) -> None:
    """Until no run is running (the workers finish their last ones)."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if not await zap.count_runs(RunFilter(statuses=(RunStatus.RUNNING,))):
            return
        await asyncio.sleep(0.05)


# --- a rate limit under backlog ------------------------------------------------------------------
async def rate_hold(base: str, runs: int) -> None:
    async with schema(base) as url:
        zap = build(url, rate="100/s")
        try:
            await zap.open()
            await zap.enqueue_many("ping", list(range(runs)))
            with worker_processes(url, 4, 10, 1000, "100/s"):
                deadline = time.monotonic() + DEADLINE
                while time.monotonic() < deadline:
                    left = await zap.count_runs(
                        RunFilter(job_types=("ping",), statuses=(RunStatus.PENDING,))
                    )
                    if left == 0:
                        break
                    await asyncio.sleep(0.2)
            with psycopg.connect(url, autocommit=True) as conn:
                per_second = conn.execute(
                    "SELECT floor(extract(epoch FROM started_at))::bigint AS s, count(*)"
                    " FROM zapjobs_runs WHERE job_type = 'ping' AND started_at IS NOT NULL"
                    " GROUP BY 1 ORDER BY 1"
                ).fetchall()
        finally:
            await zap.close()
    counts = [n for _, n in per_second[1:-1]]
    print(
        f"rate limit 100/s, 4 worker processes x concurrency 10, backlog of {runs}: starts per "
        f"whole second mean {statistics.mean(counts):.1f}, min {min(counts)}, max {max(counts)} "
        f"over {len(counts)} s"
    )


async def main(args: argparse.Namespace) -> None:
    only = set(args.only.split(","))
    if "claim" in only:
        await claim_cost(args.url, args.n, args.repeat)
    if "cap" in only:
        await cap_hold(args.url, args.cap_runs, 3, 8, 4)
    if "cap-wide" in only:  # a cap far above one claim: some workers claim under a grant
        await cap_hold(args.url, args.cap_runs * 10, 100, 12, 10)
    if "rate" in only:
        await rate_hold(args.url, args.rate_runs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--only", default="claim,cap,cap-wide,rate")
    parser.add_argument("--n", type=int, default=20000, help="runs per claim-cost drain")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cap-runs", type=int, default=300)
    parser.add_argument("--rate-runs", type=int, default=1500)
    return parser.parse_args()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, concurrency, cap, rate = sys.argv[2:6]
        asyncio.run(worker_main(url, int(concurrency), int(cap), rate))
    else:
        asyncio.run(main(parse_args()))
