"""The peers' no-op jobs and connections, shared by the producer (bench/peers.py) and the worker
processes (bench/peer_worker.py). Only public APIs of procrastinate and pgqueuer are used.

Imports of the peers happen inside the functions, and nothing here imports zapjobs, so a peer's
worker process carries only its own system in its memory figure.
"""

from __future__ import annotations

from typing import Any, Protocol

NOOP_TASK = "zapbench_noop"
LATENCY_TASK = "zapbench_latency"


class ProbeLike(Protocol):
    def started(self) -> None: ...
    def stamped(self, enqueued_at: float) -> None: ...


def procrastinate_app(conninfo: str, probe: ProbeLike | None = None) -> Any:
    """A procrastinate App on ``conninfo`` (its search_path is the benchmark's schema)."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))

    @app.task(name=NOOP_TASK)
    async def noop(i: int) -> None:
        if probe is not None:
            probe.started()

    @app.task(name=LATENCY_TASK)
    async def stamped(t: float) -> None:
        if probe is not None:
            probe.stamped(t)

    return app


async def pgqueuer_connection(driver: str, conninfo: str, schema: str) -> tuple[Any, Any]:
    """(pgqueuer Driver, raw connection) with psycopg or asyncpg, on ``schema``."""
    if driver == "psycopg":
        import psycopg
        from pgqueuer.db import PsycopgDriver

        connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        return PsycopgDriver(connection), connection
    import asyncpg
    from pgqueuer.db import AsyncpgDriver
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(conninfo)
    connection = await asyncpg.connect(
        host=str(params.get("host", "127.0.0.1")),
        port=int(params.get("port", 5432)),
        user=params.get("user"),
        password=params.get("password"),
        database=params.get("dbname"),
        server_settings={"search_path": schema},
    )
    return AsyncpgDriver(connection), connection


def pgqueuer_manager(driver: Any, probe: ProbeLike | None = None) -> Any:
    """A pgqueuer QueueManager with the two no-op entrypoints."""
    from pgqueuer.qm import QueueManager
    from pgqueuer.queries import Queries

    manager = QueueManager(Queries(driver))

    @manager.entrypoint(NOOP_TASK)
    async def noop(job: Any) -> None:
        if probe is not None:
            probe.started()

    @manager.entrypoint(LATENCY_TASK)
    async def stamped(job: Any) -> None:
        if probe is not None:
            probe.stamped(float(job.payload))

    return manager
