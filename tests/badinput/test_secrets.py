"""A job whose error carries the database password: the stored error and traceback show
``***`` instead (the password is that of the store's own connection string)."""

from __future__ import annotations

import psycopg
from psycopg.conninfo import make_conninfo

from zapjobs import JobContext, ZapJobs

from .support import SECRET


async def test_password_never_stored_in_errors(pg_url: str) -> None:
    url = make_conninfo(pg_url, password=SECRET)  # trust auth: the password is ignored
    zap = ZapJobs(url, auto_migrate=True)

    @zap.job("leak", max_retries=0)
    async def leak(ctx: JobContext[None]) -> None:
        await ctx.log.error("about to fail")
        raise RuntimeError(f"could not connect to postgresql://app:{SECRET}@db/prod")

    try:
        await zap.open()
        run_id = await zap.enqueue("leak")
        await zap.run_worker(burst=True, install_signal_handlers=False)
        run = await zap.get_run(run_id)
    finally:
        await zap.close()
    assert run.status == "failed"
    with psycopg.connect(pg_url) as conn:
        stored = conn.execute(
            "SELECT coalesce(error_message, '') || coalesce(error_traceback, '') "
            "FROM zapjobs_runs WHERE id = %s",
            (run_id,),
        ).fetchone()
        logs = conn.execute("SELECT * FROM zapjobs_logs WHERE run_id = %s", (run_id,)).fetchall()
    assert stored is not None and "could not connect" in stored[0]
    assert SECRET not in stored[0]
    assert logs, "the job's log entry was not stored"
    assert "about to fail" in repr(logs)
