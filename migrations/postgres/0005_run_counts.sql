-- zapjobs PostgreSQL schema, version 5: counts of finished runs kept with the writes, so that
-- stats() (zapjobs status, the dashboard's Overview) costs the same at 10 million runs as at
-- 10 thousand. Pending and running runs are counted exactly from their partial indexes (they are
-- bounded by the live workload); succeeded, failed and cancelled runs, the history, are counted
-- here by (queue, job_type, status).
--
-- Every change of a run's status into or out of a finished state, and every deletion of a finished
-- run, adds its delta here in the same transaction (statement-level triggers with transition
-- tables: one grouped upsert per statement, not one per row). Completions of concurrent workers
-- would queue on one counter row until commit, so each row is striped by the writing backend
-- (pg_backend_pid() % 64): a connection only ever waits for another one of the same stripe;
-- stats() sums the stripes. zapjobs inserts runs only as pending, so inserts need no trigger
-- (and the enqueue path pays nothing); a run written finished by hand is not counted until
-- "SELECT {prefix}recount_runs()" rebuilds the table from the runs.

CREATE TABLE {prefix}run_counts (
    queue     text NOT NULL,
    job_type  text NOT NULL,
    status    text NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
    stripe    smallint NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (queue, job_type, status, stripe)
);

CREATE FUNCTION {prefix}count_run_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {prefix}run_counts AS c (queue, job_type, status, stripe, n)
    SELECT d.queue, d.job_type, d.status, pg_backend_pid() % 64, sum(d.delta)
    FROM (
        SELECT o.queue, o.job_type, o.status, -1 AS delta FROM old_runs o
        WHERE o.status IN ('succeeded', 'failed', 'cancelled')
        UNION ALL
        SELECT n.queue, n.job_type, n.status, 1 AS delta FROM new_runs n
        WHERE n.status IN ('succeeded', 'failed', 'cancelled')
    ) d
    GROUP BY d.queue, d.job_type, d.status
    HAVING sum(d.delta) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (queue, job_type, status, stripe) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE FUNCTION {prefix}count_run_deletes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {prefix}run_counts AS c (queue, job_type, status, stripe, n)
    SELECT o.queue, o.job_type, o.status, pg_backend_pid() % 64, -count(*)
    FROM old_runs o
    WHERE o.status IN ('succeeded', 'failed', 'cancelled')
    GROUP BY o.queue, o.job_type, o.status
    ORDER BY 1, 2, 3
    ON CONFLICT (queue, job_type, status, stripe) DO UPDATE SET n = c.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER {prefix}runs_count_changes
    AFTER UPDATE ON {prefix}runs
    REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION {prefix}count_run_changes();

CREATE TRIGGER {prefix}runs_count_deletes
    AFTER DELETE ON {prefix}runs
    REFERENCING OLD TABLE AS old_runs
    FOR EACH STATEMENT EXECUTE FUNCTION {prefix}count_run_deletes();

-- Rebuilds the counts from the runs (the migration's starting point; after a hand-made insert).
CREATE FUNCTION {prefix}recount_runs() RETURNS void
LANGUAGE sql AS $$
    LOCK TABLE {prefix}runs IN SHARE MODE;
    DELETE FROM {prefix}run_counts;
    INSERT INTO {prefix}run_counts (queue, job_type, status, stripe, n)
    SELECT r.queue, r.job_type, r.status, 0, count(*)
    FROM {prefix}runs r
    WHERE r.status IN ('succeeded', 'failed', 'cancelled')
    GROUP BY r.queue, r.job_type, r.status;
$$;

SELECT {prefix}recount_runs();
