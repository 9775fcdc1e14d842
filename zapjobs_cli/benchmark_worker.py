"""A benchmark worker process, and the line protocol every benchmark worker speaks.

    python -m zapjobs_cli.benchmark_worker --prefix P --mode drain|latency --concurrency N
        [--expect K] [--polling-interval S]

The database URL comes from the environment (ZAPBENCH_DATABASE_URL), never from the command
line, where ``ps`` would show its password. The protocol (JSON lines; bench/ peers speak it too):

- the worker prints ``{"event": "ready"}`` once connected (latency mode: once listening);
- drain mode: it waits for ``go`` on stdin, works until nothing is left, then exits;
- latency mode: it prints ``{"event": "warm"}`` when it runs the warm-up job (a negative stamp),
  and works until it has run ``--expect`` jobs, or ``stop``/EOF arrives on stdin;
- every ``PROGRESS_EVERY`` jobs started it prints ``{"event": "started", "jobs": N}`` (its own
  count so far), so the bench looks at the database only once the last runs are under way;
- last it prints ``{"event": "done", ...}`` (see ``WorkerSide.done``) and exits.

``cpu`` in both events is the process's CPU time (user + system, all threads) so far.

Only the standard library is imported at the top, so a peer's worker can load this file without
pulling zapjobs into its own memory figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable

URL_ENV = "ZAPBENCH_DATABASE_URL"
#: a worker reports its count of started jobs at every multiple of this
PROGRESS_EVERY = 250


def peak_rss_kb() -> int:
    """This process's peak resident set size (VmHWM), in KiB."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB on Linux


class Probe:
    """What the no-op jobs record: the first start, how many ran, each pickup latency."""

    def __init__(
        self,
        expect: int | None = None,
        on_warm: Callable[[], None] | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.expect = expect
        self.on_warm = on_warm
        self.on_progress = on_progress
        self.first_start: float | None = None
        self.jobs = 0
        self.latencies: list[float] = []
        self.enough = asyncio.Event()

    def started(self) -> None:
        if self.first_start is None:
            self.first_start = time.monotonic()
        self.jobs += 1
        if self.on_progress is not None and self.jobs % PROGRESS_EVERY == 0:
            self.on_progress(self.jobs)
        if self.expect is not None and self.jobs >= self.expect:
            self.enough.set()

    def stamped(self, enqueued_at: float) -> None:
        """A job enqueued at ``enqueued_at`` (time.monotonic(), system-wide on Linux) starts; a
        negative stamp is the warm-up job, which proves the worker picks jobs up."""
        if enqueued_at < 0:
            if self.on_warm is not None:
                self.on_warm()
            return
        self.latencies.append(time.monotonic() - enqueued_at)
        self.started()


class WorkerSide:
    """The worker's half of the protocol: stdout events and stdin commands."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.go = asyncio.Event()
        self.stop = asyncio.Event()
        threading.Thread(target=self._read_stdin, name="bench-stdin", daemon=True).start()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            command = line.strip()
            if command == "go":
                self._loop.call_soon_threadsafe(self.go.set)
            elif command == "stop":
                self._loop.call_soon_threadsafe(self.stop.set)
        self._loop.call_soon_threadsafe(self.stop.set)  # EOF: the bench is gone or done
        self._loop.call_soon_threadsafe(self.go.set)

    @staticmethod
    def emit(event: str, **fields: object) -> None:
        print(json.dumps({"event": event, **fields}), flush=True)

    def ready(self) -> None:
        self.emit("ready", pid=os.getpid(), cpu=time.process_time())

    def progress(self, jobs: int) -> None:
        self.emit("started", jobs=jobs)

    def done(self, probe: Probe, **extra: object) -> None:
        self.emit(
            "done",
            end=time.monotonic(),
            cpu=time.process_time(),
            first_start=probe.first_start,
            jobs=probe.jobs,
            latencies=probe.latencies,
            peak_rss_kb=peak_rss_kb(),
            **extra,
        )

    async def wait_go_or_stop(self) -> bool:
        """True on ``go``; False when ``stop`` or EOF came first."""
        go = asyncio.ensure_future(self.go.wait())
        stop = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({go, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            go.cancel()
            stop.cancel()
        return self.go.is_set() and not self.stop.is_set()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="a zapjobs benchmark worker")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--mode", choices=("drain", "latency"), required=True)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--expect", type=int, default=None)
    parser.add_argument("--polling-interval", type=float, default=None)
    return parser.parse_args(argv)


async def _main(args: argparse.Namespace) -> int:
    from zapjobs.events import WorkerStarted
    from zapjobs_cli.benchmark import build_app

    side = WorkerSide()
    probe = Probe(expect=args.expect, on_warm=lambda: side.emit("warm"), on_progress=side.progress)
    zap = build_app(
        os.environ[URL_ENV], args.prefix, probe=probe, polling_interval=args.polling_interval
    )
    try:
        await zap.open()
        stop = asyncio.Event()
        _relay(side.stop, stop)
        on_event: Callable[[object], None] | None = None
        if args.mode == "drain":
            side.ready()
            if not await side.wait_go_or_stop():
                side.done(probe, claimed=0)
                return 0
        else:

            def on_event(event: object) -> None:
                if isinstance(event, WorkerStarted):
                    side.ready()

            _relay(probe.enough, stop)
        summary = await zap.run_worker(
            concurrency=args.concurrency,
            burst=args.mode == "drain",
            install_signal_handlers=False,
            on_event=on_event,
            stop=stop,
        )
        side.done(probe, claimed=summary.claimed, succeeded=summary.succeeded)
    finally:
        await zap.close()
    return 0


def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    async def relay() -> None:
        await source.wait()
        target.set()

    task = asyncio.ensure_future(relay())
    _background.add(task)
    task.add_done_callback(_background.discard)


_background: set[asyncio.Future[None]] = set()


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(_main(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
