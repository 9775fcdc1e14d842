-- zapjobs SQLite schema, version 1. {prefix} is the validated table prefix.
-- Applied by the store's migration runner in one BEGIN IMMEDIATE transaction; never edited once
-- released. The same tables, columns and index names as the PostgreSQL schema, with these types:
-- timestamps are INTEGER microseconds since the Unix epoch (UTC), so comparisons and indexes are
-- exact; JSON is TEXT (checked with json_valid); booleans are INTEGER 0/1. AUTOINCREMENT keeps
-- ids from ever being reused, like PostgreSQL's identity columns (keyset paging and log cursors
-- rely on it).

CREATE TABLE {prefix}definitions (
    job_type                  TEXT NOT NULL PRIMARY KEY,
    queue                     TEXT NOT NULL DEFAULT 'default',
    max_retries               INTEGER NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
    timeout_seconds           REAL,
    max_retries_override      INTEGER CHECK (max_retries_override >= 0),
    timeout_seconds_override  REAL,
    enabled                   INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    schedule_kind             TEXT CHECK (schedule_kind IN ('cron', 'interval')),
    schedule_expression       TEXT,
    schedule_timezone         TEXT,
    schedule_catch_up         TEXT CHECK (schedule_catch_up IN ('latest', 'skip')),
    -- the schedule's input stays the caller's JSON text, byte for byte
    schedule_input_json       TEXT,
    next_due_at               INTEGER,
    last_due_at               INTEGER,
    last_run_id               INTEGER,
    updated_at                INTEGER NOT NULL
                              DEFAULT (CAST(strftime('%s', 'now') AS INTEGER) * 1000000),
    CHECK ((schedule_kind IS NULL) = (schedule_expression IS NULL))
);

CREATE TABLE {prefix}runs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    job_type            TEXT NOT NULL,
    queue               TEXT NOT NULL,
    priority            INTEGER NOT NULL DEFAULT 0,
    status              TEXT NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'cancelled')),
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
    schedule_due_at     INTEGER
);

-- The claim: due pending runs of a queue in claim order. Partial, so finished rows cost nothing.
CREATE INDEX {prefix}runs_claim_idx ON {prefix}runs (queue, priority DESC, run_at, id)
    WHERE status = 'pending';
-- Running runs by worker: rescue, cancel requests.
CREATE INDEX {prefix}runs_running_idx ON {prefix}runs (worker_id)
    WHERE status = 'running';
-- Keyset paging (id DESC) under the common filters.
CREATE INDEX {prefix}runs_status_idx ON {prefix}runs (status, id);
CREATE INDEX {prefix}runs_job_type_idx ON {prefix}runs (job_type, id);
CREATE INDEX {prefix}runs_queue_idx ON {prefix}runs (queue, id);
-- Retention, throughput and error groups.
CREATE INDEX {prefix}runs_finished_idx ON {prefix}runs (finished_at)
    WHERE finished_at IS NOT NULL;
-- One run per recurring due time: what makes recurring runs exactly-once.
CREATE UNIQUE INDEX {prefix}runs_schedule_due_idx ON {prefix}runs (job_type, schedule_due_at)
    WHERE schedule_due_at IS NOT NULL;

CREATE TABLE {prefix}logs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES {prefix}runs (id) ON DELETE CASCADE,
    level       INTEGER NOT NULL,
    message     TEXT NOT NULL,
    logged_at   INTEGER NOT NULL,
    fields      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(fields))
);

CREATE INDEX {prefix}logs_run_idx ON {prefix}logs (run_id, id);
CREATE INDEX {prefix}logs_logged_at_idx ON {prefix}logs (logged_at);

CREATE TABLE {prefix}heartbeats (
    id            TEXT NOT NULL PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    -- a JSON array of queue names, in priority order
    queues        TEXT NOT NULL CHECK (json_valid(queues)),
    started_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    running       INTEGER NOT NULL DEFAULT 0,
    concurrency   INTEGER NOT NULL DEFAULT 0,
    stopped_at    INTEGER,
    dead_at       INTEGER
);

CREATE INDEX {prefix}heartbeats_last_seen_idx ON {prefix}heartbeats (last_seen_at);
