"""Workflows (issue 16): what waiting for other runs costs. zapjobs only (the peers have no
dependencies between jobs).

    .venv/bin/python bench/workflows.py [--parents 1000] [--n 10000] [--repeat 5] [--url ...]

Scenarios, each repeat on a fresh PostgreSQL schema, one worker in this process (concurrency 10,
default polling interval):
- ``fan-in``: a group of ``--parents`` no-op runs then one callback
  (``zap.group([...]).then(callback)``), enqueued before the worker starts; the time from the
  last parent finished (its ``finished_at``) to the callback started (its ``started_at``), both
  written by the database's clock, and the whole drain. The release happens in the statement
  that finishes the last parent; this is what the callback waits after it.
- ``drain``: ``--n`` no-op runs drained by ``run_worker(burst=True)``, in three shapes,
  alternated (each first in turn): ``none``, runs with no parent; ``pairs``, n/2 parents each
  followed by one child that reads its parent's output (the child waits, is released when its
  parent finishes and reads that output when it starts); ``done-parent``, n runs that each have
  one parent already succeeded (created pending; each reads its parent's output when it starts).
  jobs/s (medians) and the ratio to ``none`` (target: within 20%).

Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from flow import schema  # noqa: E402 (a fresh schema per installation, as flow.py makes them)
from rounds import alternated  # noqa: E402

from zapjobs import JobContext, ZapJobs  # noqa: E402
from zapjobs.models import InputFrom, NewRun  # noqa: E402
from zapjobs.testing import store_of  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
SHAPES = ("none", "pairs", "done-parent")


def build(url: str) -> ZapJobs:
    zap = ZapJobs(url, auto_migrate=True, enable_scheduler=False)

    @zap.job("leaf")
    async def leaf(ctx: JobContext[int]) -> int:
        return ctx.input

    @zap.job("sink")
    async def sink(ctx: JobContext[object]) -> None:
        return None

    return zap


async def drain(zap: ZapJobs) -> tuple[int, float]:
    started = time.perf_counter()
    summary = await zap.run_worker(
        burst=True, concurrency=10, queues=["default"], install_signal_handlers=False
    )
    return summary.succeeded, time.perf_counter() - started


# --- fan-in --------------------------------------------------------------------------------------
async def fan_in_once(base: str, parents: int) -> tuple[float, float]:
    """(ms from the last parent finished to the callback started, drain seconds)."""
    async with schema(base) as url:
        zap = build(url)
        async with zap:
            workflow = await zap.group([zap.step("leaf", n) for n in range(parents)]).then("sink")
            succeeded, seconds = await drain(zap)
            assert succeeded == parents + 1, succeeded
            with psycopg.connect(url, autocommit=True) as conn:
                [(lag,)] = conn.execute(
                    "SELECT EXTRACT(EPOCH FROM c.started_at - p.last) * 1000"
                    " FROM zapjobs_runs c,"
                    " (SELECT max(finished_at) AS last FROM zapjobs_runs WHERE job_type = 'leaf') p"
                    " WHERE c.id = %s",
                    (workflow.last,),
                ).fetchall()
            return float(lag), seconds


async def fan_in(base: str, parents: int, repeat: int) -> None:
    lags, drains = [], []
    for r in range(repeat):
        lag, seconds = await fan_in_once(base, parents)
        lags.append(lag)
        drains.append(seconds)
        print(f"  fan-in r{r}: callback started {lag:.1f} ms after the last parent", flush=True)
    print(
        f"fan-in of {parents}: last parent finished -> callback started: median "
        f"{statistics.median(lags):.1f} ms, max {max(lags):.1f} ms (drain of {parents + 1} runs "
        f"{statistics.median(drains):.2f} s, median of {repeat})"
    )


# --- drain with and without parents --------------------------------------------------------------
async def drain_once(base: str, n: int, shape: str) -> float:
    async with schema(base) as url:
        zap = build(url)
        async with zap:
            store = store_of(zap)
            if shape == "none":
                for offset in range(0, n, 1000):
                    await zap.enqueue_many("leaf", list(range(offset, min(n, offset + 1000))))
            elif shape == "pairs":
                parent_ids = await zap.enqueue_many("leaf", list(range(n // 2)))
                children = [child_of(p) for p in parent_ids]
                for offset in range(0, len(children), 1000):
                    await store.enqueue(children[offset : offset + 1000])
            else:
                [root] = await zap.enqueue_many("leaf", [0])
                done, _ = await drain(zap)
                assert done == 1
                children = [child_of(root) for _ in range(n)]
                for offset in range(0, n, 1000):
                    await store.enqueue(children[offset : offset + 1000])
            succeeded, seconds = await drain(zap)
            expected = n if shape != "pairs" else 2 * (n // 2)
            assert succeeded == expected, (shape, succeeded)
            return succeeded / seconds


def child_of(parent: int) -> NewRun:
    """A leaf run after ``parent`` that reads its input from the parent's output."""
    return NewRun(
        job_type="leaf",
        queue="default",
        input_json="null",
        parents=(parent,),
        input_from=InputFrom.PARENT,
    )


async def drains(base: str, n: int, repeat: int) -> None:
    rates = await alternated(SHAPES, repeat, lambda s: drain_once(base, n, s), "drain")
    base_rate = statistics.median(rates["none"])
    print(f"drain 1x10 of {n} no-op runs, medians of {repeat}:")
    for shape in SHAPES:
        rate = statistics.median(rates[shape])
        print(f"  {shape:12} {rate:8,.0f} jobs/s   {rate / base_rate:5.2f}x of none")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--parents", type=int, default=1000)
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default="fan-in,drain")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "fan-in" in only:
        asyncio.run(fan_in(args.url, args.parents, args.repeat))
    if "drain" in only:
        asyncio.run(drains(args.url, args.n, args.repeat))


if __name__ == "__main__":
    main()
