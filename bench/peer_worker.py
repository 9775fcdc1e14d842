"""A peer's benchmark worker process: procrastinate, or pgqueuer with psycopg or asyncpg.

    python bench/peer_worker.py --system procrastinate|pgqueuer-psycopg|pgqueuer-asyncpg \
        --mode drain|latency --concurrency N [--expect K]

It speaks the line protocol of zapjobs_cli/benchmark_worker.py (loaded from its file, so that
zapjobs is not imported here). The connection string comes from ZAPBENCH_DATABASE_URL (its
search_path is the run's schema) and the schema's name from ZAPBENCH_SCHEMA. ``--concurrency`` is
procrastinate's concurrency and pgqueuer's batch size.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from peer_apps import (  # noqa: E402
    pgqueuer_connection,
    pgqueuer_manager,
    procrastinate_app,
)

SCHEMA_ENV = "ZAPBENCH_SCHEMA"


def load_protocol() -> ModuleType:
    path = HERE.parent / "zapjobs_cli" / "benchmark_worker.py"
    spec = importlib.util.spec_from_file_location("zapbench_protocol", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


protocol = load_protocol()


async def stop_when(events: list[asyncio.Event], action: Any) -> None:
    """Call ``action`` once any of ``events`` is set."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    action()


async def run_procrastinate(args: argparse.Namespace, side: Any, probe: Any, url: str) -> None:
    app = procrastinate_app(url, probe)
    async with app.open_async():
        options: dict[str, Any] = {
            "concurrency": args.concurrency,
            "install_signal_handlers": False,
            "listen_notify": True,
            "wait": args.mode == "latency",
        }
        if args.mode == "drain":
            side.ready()
            if not await side.wait_go_or_stop():
                side.done(probe)
                return
        worker = asyncio.ensure_future(app.run_worker_async(**options))
        if args.mode == "latency":
            side.ready()
        stopper = asyncio.ensure_future(stop_when([side.stop, probe.enough], worker.cancel))
        try:
            with contextlib.suppress(asyncio.CancelledError):
                await worker  # a cancelled procrastinate worker stops gracefully
        finally:
            stopper.cancel()
        side.done(probe)


async def run_pgqueuer(
    args: argparse.Namespace, side: Any, probe: Any, url: str, driver_name: str
) -> None:
    from pgqueuer.types import QueueExecutionMode

    driver, connection = await pgqueuer_connection(driver_name, url, os.environ[SCHEMA_ENV])
    try:
        manager = pgqueuer_manager(driver, probe)
        if args.mode == "drain":
            side.ready()
            if not await side.wait_go_or_stop():
                side.done(probe)
                return
            mode = QueueExecutionMode.drain
        else:
            mode = QueueExecutionMode.continuous
        worker = asyncio.ensure_future(manager.run(batch_size=args.concurrency, mode=mode))
        if args.mode == "latency":
            side.ready()
        stopper = asyncio.ensure_future(stop_when([side.stop, probe.enough], manager.shutdown.set))
        try:
            await worker
        finally:
            stopper.cancel()
        side.done(probe)
    finally:
        await connection.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--system", choices=("procrastinate", "pgqueuer-psycopg", "pgqueuer-asyncpg")
    )
    parser.add_argument("--mode", choices=("drain", "latency"), required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--expect", type=int, default=None)
    args = parser.parse_args()

    side = protocol.WorkerSide()
    probe = protocol.Probe(
        expect=args.expect, on_warm=lambda: side.emit("warm"), on_progress=side.progress
    )
    url = os.environ[protocol.URL_ENV]
    if args.system == "procrastinate":
        await run_procrastinate(args, side, probe, url)
    else:
        await run_pgqueuer(args, side, probe, url, args.system.split("-", 1)[1])
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
