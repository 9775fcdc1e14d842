-- zapjobs SQLite schema, version 5 (the number matches PostgreSQL's migration of the same change):
-- counts of finished runs kept with the writes, so that stats() (zapjobs status, the dashboard's
-- Overview) costs the same at 10 million runs as at 10 thousand. Pending and running runs are
-- counted exactly from their partial indexes; succeeded, failed and cancelled runs are counted
-- here by (queue, job_type, status), by triggers in the writing transaction. SQLite has one
-- writer at a time, so one row per key needs no striping (the column matches PostgreSQL's).

-- The Overview's error groups read the failures of the last 24 hours: a partial index of failed
-- runs by finish time serves them without reading the succeeded runs of that window.
CREATE INDEX {prefix}runs_failed_idx ON {prefix}runs (finished_at) WHERE status = 'failed';

CREATE TABLE {prefix}run_counts (
    queue     TEXT NOT NULL,
    job_type  TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
    stripe    INTEGER NOT NULL DEFAULT 0,
    n         INTEGER NOT NULL,
    PRIMARY KEY (queue, job_type, status, stripe)
);

CREATE TRIGGER {prefix}runs_count_insert
AFTER INSERT ON {prefix}runs
WHEN NEW.status IN ('succeeded', 'failed', 'cancelled')
BEGIN
    INSERT INTO {prefix}run_counts (queue, job_type, status, stripe, n)
    VALUES (NEW.queue, NEW.job_type, NEW.status, 0, 1)
    ON CONFLICT (queue, job_type, status, stripe) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER {prefix}runs_count_leave
AFTER UPDATE OF status, queue, job_type ON {prefix}runs
WHEN OLD.status IN ('succeeded', 'failed', 'cancelled')
 AND (OLD.status <> NEW.status OR OLD.queue <> NEW.queue OR OLD.job_type <> NEW.job_type)
BEGIN
    UPDATE {prefix}run_counts SET n = n - 1
    WHERE queue = OLD.queue AND job_type = OLD.job_type AND status = OLD.status AND stripe = 0;
END;

CREATE TRIGGER {prefix}runs_count_enter
AFTER UPDATE OF status, queue, job_type ON {prefix}runs
WHEN NEW.status IN ('succeeded', 'failed', 'cancelled')
 AND (OLD.status <> NEW.status OR OLD.queue <> NEW.queue OR OLD.job_type <> NEW.job_type)
BEGIN
    INSERT INTO {prefix}run_counts (queue, job_type, status, stripe, n)
    VALUES (NEW.queue, NEW.job_type, NEW.status, 0, 1)
    ON CONFLICT (queue, job_type, status, stripe) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER {prefix}runs_count_delete
AFTER DELETE ON {prefix}runs
WHEN OLD.status IN ('succeeded', 'failed', 'cancelled')
BEGIN
    UPDATE {prefix}run_counts SET n = n - 1
    WHERE queue = OLD.queue AND job_type = OLD.job_type AND status = OLD.status AND stripe = 0;
END;

INSERT INTO {prefix}run_counts (queue, job_type, status, stripe, n)
SELECT queue, job_type, status, 0, count(*)
FROM {prefix}runs
WHERE status IN ('succeeded', 'failed', 'cancelled')
GROUP BY queue, job_type, status;
