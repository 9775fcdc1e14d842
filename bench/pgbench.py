"""Scenario 5, the ceiling: pgbench running the minimal job lifecycle on the same server.

One pgbench transaction is one job (insert a row; claim one with FOR UPDATE SKIP LOCKED; mark
it done), each statement committing on its own as a queue's would; the batch variant inserts,
claims and completes 100 at a time. jobs/s = pgbench's tps x jobs per transaction.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict

TABLE_SQL = """
CREATE TABLE pgb_jobs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status      smallint NOT NULL DEFAULT 0,  -- 0 pending, 1 running, 2 done
    payload     jsonb NOT NULL DEFAULT '{}',
    worker      integer,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz
);
CREATE INDEX pgb_jobs_pending ON pgb_jobs (id) WHERE status = 0;
"""

# :client_id is pgbench's own variable: the worker that owns a claimed row.
ONE_JOB = r"""
INSERT INTO pgb_jobs (payload) VALUES ('{"i": 1}');
WITH c AS (SELECT id FROM pgb_jobs WHERE status = 0 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED),
     u AS (UPDATE pgb_jobs j SET status = 1, worker = :client_id, started_at = now()
           FROM c WHERE j.id = c.id RETURNING j.id)
SELECT coalesce(max(id), 0) AS job FROM u \gset
UPDATE pgb_jobs SET status = 2, finished_at = now()
WHERE id = :job AND status = 1 AND worker = :client_id;
"""

BATCH = r"""
INSERT INTO pgb_jobs (payload) SELECT jsonb_build_object('i', g) FROM generate_series(1, {n}) g;
WITH c AS (SELECT id FROM pgb_jobs WHERE status = 0 ORDER BY id LIMIT {n} FOR UPDATE SKIP LOCKED),
     u AS (UPDATE pgb_jobs j SET status = 1, worker = :client_id, started_at = now()
           FROM c WHERE j.id = c.id RETURNING j.id)
SELECT coalesce(min(id), 0) AS lo, coalesce(max(id), 0) AS hi FROM u \gset
UPDATE pgb_jobs SET status = 2, finished_at = now()
WHERE id BETWEEN :lo AND :hi AND status = 1 AND worker = :client_id;
"""


@dataclass(frozen=True)
class Variant:
    name: str
    clients: int
    batch: int


VARIANTS = (
    Variant("pgbench_1c_x1", 1, 1),
    Variant("pgbench_10c_x1", 10, 1),
    Variant("pgbench_1c_x100", 1, 100),
    Variant("pgbench_10c_x100", 10, 100),
)
CEILING = "pgbench_10c_x100"  # what PostgreSQL allows here with batching

_TPS = re.compile(r"^tps = ([0-9.]+) \(without initial connection time\)", re.MULTILINE)


def find_pgbench() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"), reverse=True)
    return candidates[0] if candidates else None


def _env(conninfo: str) -> dict[str, str]:
    """libpq environment variables for pgbench (the password never goes on the command line)."""
    params = conninfo_to_dict(conninfo)
    names = {
        "host": "PGHOST",
        "port": "PGPORT",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "dbname": "PGDATABASE",
        "options": "PGOPTIONS",
    }
    env = dict(os.environ)
    for key, variable in names.items():
        if params.get(key) is not None:
            env[variable] = str(params[key])
    return env


def run_variant(conninfo: str, variant: Variant, seconds: int, pgbench: str) -> dict[str, float]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS pgb_jobs")
        conn.execute(TABLE_SQL)
    script = ONE_JOB if variant.batch == 1 else BATCH.format(n=variant.batch)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        handle.write(script)
    try:
        argv = [pgbench, "-n", "-M", "prepared", "-f", handle.name]
        argv += ["-c", str(variant.clients), "-j", str(min(variant.clients, 2))]
        argv += ["-T", str(seconds)]
        done = subprocess.run(
            argv, env=_env(conninfo), capture_output=True, text=True, timeout=seconds + 120
        )
    finally:
        os.unlink(handle.name)
    match = _TPS.search(done.stdout)
    if done.returncode != 0 or match is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"pgbench {variant.name} failed: {' | '.join(tail)}")
    tps = float(match.group(1))
    return {
        "clients": variant.clients,
        "batch": variant.batch,
        "seconds": seconds,
        "transactions_per_s": tps,
        "jobs_per_s": tps * variant.batch,
    }
