-- zapjobs SQLite schema, version 9 (the number matches PostgreSQL's migration of the same
-- change): workflows. A run may be enqueued after other runs (its parents); it is 'waiting' until
-- the last of them finishes, then becomes pending exactly once (one writer at a time: the
-- release runs in the transaction that ends the parent).
--
-- The status CHECK of runs gains 'waiting'. SQLite cannot change a CHECK in place, so runs is
-- rebuilt (the documented create-copy-drop-rename procedure), and logs with it: with foreign
-- keys on (session_setup) and inside this transaction (where the pragma cannot be turned off),
-- renaming runs would repoint logs' foreign key and dropping it would delete every log entry by
-- cascade. Both keep their ids, and runs its AUTOINCREMENT high mark, so ids are never reused.
-- Columns as PostgreSQL's version 9 (see migrations/postgres/0009_workflows.sql).

DROP TRIGGER {prefix}runs_count_insert;
DROP TRIGGER {prefix}runs_count_leave;
DROP TRIGGER {prefix}runs_count_enter;
DROP TRIGGER {prefix}runs_count_delete;

ALTER TABLE {prefix}logs RENAME TO {prefix}logs_before_0009;
ALTER TABLE {prefix}runs RENAME TO {prefix}runs_before_0009;

CREATE TABLE {prefix}runs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type            TEXT NOT NULL,
    queue               TEXT NOT NULL,
    priority            INTEGER NOT NULL DEFAULT 0,
    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('waiting', 'pending', 'running', 'succeeded', 'failed',
                                          'cancelled')),
    input               TEXT NOT NULL DEFAULT 'null' CHECK (json_valid(input)),
    output              TEXT CHECK (output IS NULL OR json_valid(output)),
    error_type          TEXT,
    error_message       TEXT,
    error_traceback     TEXT,
    attempt             INTEGER NOT NULL DEFAULT 0,
    run_at              INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER,
    worker_id           TEXT,
    progress_total      INTEGER,
    progress_processed  INTEGER NOT NULL DEFAULT 0,
    progress_succeeded  INTEGER NOT NULL DEFAULT 0,
    progress_failed     INTEGER NOT NULL DEFAULT 0,
    cancel_requested    INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    schedule_due_at     INTEGER,
    max_attempts        INTEGER NOT NULL DEFAULT 4 CHECK (max_attempts >= 1),
    trace_context       TEXT,
    unique_key          TEXT,
    unique_states       INTEGER,
    parents_left        INTEGER,
    on_parent_failure   TEXT CHECK (on_parent_failure IN ('cancel', 'run')),
    cancelled_by        INTEGER,
    input_from          TEXT CHECK (input_from IN ('parent', 'parents')),
    child_stamp         INTEGER NOT NULL DEFAULT 0
);

INSERT INTO {prefix}runs (
    id, job_type, queue, priority, status, input, output, error_type, error_message,
    error_traceback, attempt, run_at, created_at, started_at, finished_at, worker_id,
    progress_total, progress_processed, progress_succeeded, progress_failed, cancel_requested,
    schedule_due_at, max_attempts, trace_context, unique_key, unique_states
)
SELECT id, job_type, queue, priority, status, input, output, error_type, error_message,
       error_traceback, attempt, run_at, created_at, started_at, finished_at, worker_id,
       progress_total, progress_processed, progress_succeeded, progress_failed, cancel_requested,
       schedule_due_at, max_attempts, trace_context, unique_key, unique_states
FROM {prefix}runs_before_0009
ORDER BY id;

DELETE FROM sqlite_sequence WHERE name = '{prefix}runs';
INSERT INTO sqlite_sequence (name, seq)
SELECT '{prefix}runs', seq FROM sqlite_sequence WHERE name = '{prefix}runs_before_0009';

CREATE TABLE {prefix}logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES {prefix}runs (id) ON DELETE CASCADE,
    level       INTEGER NOT NULL,
    message     TEXT NOT NULL,
    logged_at   INTEGER NOT NULL,
    fields      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(fields))
);

INSERT INTO {prefix}logs (id, run_id, level, message, logged_at, fields)
SELECT id, run_id, level, message, logged_at, fields FROM {prefix}logs_before_0009 ORDER BY id;

DELETE FROM sqlite_sequence WHERE name = '{prefix}logs';
INSERT INTO sqlite_sequence (name, seq)
SELECT '{prefix}logs', seq FROM sqlite_sequence WHERE name = '{prefix}logs_before_0009';

DROP TABLE {prefix}logs_before_0009;
DROP TABLE {prefix}runs_before_0009;

CREATE INDEX {prefix}runs_claim_idx ON {prefix}runs (queue, priority DESC, run_at, id)
    WHERE status = 'pending';
CREATE INDEX {prefix}runs_running_idx ON {prefix}runs (worker_id)
    WHERE status = 'running';
CREATE INDEX {prefix}runs_status_idx ON {prefix}runs (status, id);
CREATE INDEX {prefix}runs_job_type_idx ON {prefix}runs (job_type, id);
CREATE INDEX {prefix}runs_queue_idx ON {prefix}runs (queue, id);
CREATE INDEX {prefix}runs_finished_idx ON {prefix}runs (finished_at)
    WHERE finished_at IS NOT NULL;
CREATE UNIQUE INDEX {prefix}runs_schedule_due_idx ON {prefix}runs (job_type, schedule_due_at)
    WHERE schedule_due_at IS NOT NULL;
CREATE INDEX {prefix}runs_failed_idx ON {prefix}runs (finished_at) WHERE status = 'failed';
CREATE UNIQUE INDEX {prefix}runs_unique_key_idx ON {prefix}runs (job_type, unique_key)
    WHERE unique_key IS NOT NULL
      AND (unique_states & CASE status WHEN 'pending' THEN 1 WHEN 'running' THEN 2
                                       WHEN 'succeeded' THEN 4 WHEN 'failed' THEN 8
                                       WHEN 'cancelled' THEN 16 ELSE 0 END) <> 0;
-- Waiting runs counted (stats) without reading the others; a retry finds what its run cancelled.
CREATE INDEX {prefix}runs_waiting_idx ON {prefix}runs (queue) WHERE status = 'waiting';
CREATE INDEX {prefix}runs_cancelled_by_idx ON {prefix}runs (cancelled_by)
    WHERE cancelled_by IS NOT NULL;

CREATE INDEX {prefix}logs_run_idx ON {prefix}logs (run_id, id);
CREATE INDEX {prefix}logs_logged_at_idx ON {prefix}logs (logged_at);

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

CREATE TABLE {prefix}run_parents (
    run_id     INTEGER NOT NULL REFERENCES {prefix}runs (id) ON DELETE CASCADE,
    -- no foreign key: a parent may be deleted once no unfinished run needs it
    parent_id  INTEGER NOT NULL,
    done       INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
    PRIMARY KEY (run_id, parent_id)
) WITHOUT ROWID;

CREATE INDEX {prefix}run_parents_parent_idx ON {prefix}run_parents (parent_id);
