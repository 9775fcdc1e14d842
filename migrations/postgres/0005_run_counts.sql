-- zapjobs PostgreSQL schema, version 5: counts of finished runs kept with the writes, so that
-- stats() (zapjobs status, the dashboard's Overview) costs the same at 10 million runs as at
-- 10 thousand. Pending and running runs are counted exactly from their partial indexes (they are
-- bounded by the live workload); succeeded, failed and cancelled runs, the history, are counted
-- here by (queue, job_type, status).
--
-- The statements that move a run into or out of a finished state (complete, cancel, retry,
-- rescue) or delete finished runs (delete, prune) add their deltas here themselves, one grouped
-- upsert per statement (queries.sql: fragment count_finished). Not triggers: a statement-level
-- trigger would fire on every claim too (measured: +60 us per claim statement). Concurrent
-- completions would queue on one counter row until commit, so a row is striped by the writing
-- connection (mod(pg_backend_pid(), 64)); stats() sums the stripes. zapjobs inserts runs only as
-- pending, so enqueues pay nothing.

CREATE TABLE {prefix}run_counts (
    queue     text NOT NULL,
    job_type  text NOT NULL,
    status    text NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
    stripe    smallint NOT NULL,
    n         bigint NOT NULL,
    PRIMARY KEY (queue, job_type, status, stripe)
);

-- The Overview's error groups read the failures of the last 24 hours: a partial index of failed
-- runs by finish time serves them without reading the succeeded runs of that window (the bulk).
-- Only a failing completion writes an entry.
CREATE INDEX {prefix}runs_failed_idx ON {prefix}runs (finished_at) WHERE status = 'failed';

-- The counts of the runs already there (the history is read once, here). Taken under a lock that
-- lets no run change meanwhile; the migration's transaction holds it to the end.
LOCK TABLE {prefix}runs IN SHARE MODE;

INSERT INTO {prefix}run_counts (queue, job_type, status, stripe, n)
SELECT r.queue, r.job_type, r.status, 0, count(*)
FROM {prefix}runs r
WHERE r.status IN ('succeeded', 'failed', 'cancelled')
GROUP BY r.queue, r.job_type, r.status;
