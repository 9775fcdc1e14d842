-- Every SQL statement the SQLite store runs, one named block each.
--
-- "-- name: x" starts a statement, "-- fragment: x" a piece that statements include as {x}.
-- {prefix} becomes the validated table prefix. Every value is a bound parameter (:name); lists
-- travel as one JSON array parameter read with json_each. Whole-line comments are dropped when
-- loading. Timestamps are INTEGER microseconds since the epoch (UTC); "now" and every cutoff
-- are computed by the caller, so the SQL never reads a clock.
--
-- A statement that uses {drive} is rendered once per "drive_*" fragment, as "name:variant": the
-- driving term names the index that serves it (the optional filters below cannot, being ORs).

-- ==============================================================================================
-- session, transactions and schema
-- ==============================================================================================

-- name: session_setup
-- Statements are run one by one: PRAGMAs take no bound parameters, the values are constants.
PRAGMA foreign_keys = ON;
PRAGMA synchronous = NORMAL

-- name: journal_wal
PRAGMA journal_mode = WAL

-- name: begin_immediate
-- Take the file's write lock up front: read-then-write transactions of several processes
-- serialise here (waiting up to busy_timeout) instead of failing halfway.
BEGIN IMMEDIATE

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: sqlite_version
SELECT sqlite_version() AS version

-- name: database_file
-- The file behind a caller's own connection ("main" is its first database).
SELECT file FROM pragma_database_list WHERE name = 'main'

-- name: migrations_create_table
CREATE TABLE IF NOT EXISTS {prefix}migrations (
    version     INTEGER NOT NULL PRIMARY KEY,
    name        TEXT NOT NULL,
    applied_at  INTEGER NOT NULL
)

-- name: uninstall_logs
DROP TABLE IF EXISTS {prefix}logs

-- name: uninstall_run_parents
DROP TABLE IF EXISTS {prefix}run_parents

-- name: uninstall_runs
DROP TABLE IF EXISTS {prefix}runs

-- name: uninstall_heartbeats
DROP TABLE IF EXISTS {prefix}heartbeats

-- name: uninstall_definitions
DROP TABLE IF EXISTS {prefix}definitions

-- name: uninstall_queues
DROP TABLE IF EXISTS {prefix}queues

-- name: uninstall_run_counts
DROP TABLE IF EXISTS {prefix}run_counts

-- name: uninstall_flow_limits
DROP TABLE IF EXISTS {prefix}flow_limits

-- name: uninstall_migrations
DROP TABLE IF EXISTS {prefix}migrations

-- name: migrations_applied
SELECT version FROM {prefix}migrations ORDER BY version

-- name: migrations_record
INSERT INTO {prefix}migrations (version, name, applied_at) VALUES (:version, :name, :now)

-- ==============================================================================================
-- shared pieces of the statements below
-- ==============================================================================================

-- fragment: insert_new_runs
-- The runs of the :runs JSON array (rows.new_runs_param) in array order, due at run_at (else
-- now), created now. "WHERE true" keeps a following ON CONFLICT from being read as part of the
-- SELECT.
INSERT INTO {prefix}runs (
    job_type, queue, priority, input, run_at, created_at, schedule_due_at, max_attempts,
    trace_context, unique_key, unique_states
)
SELECT json_extract(n.value, '$.job_type'),
       json_extract(n.value, '$.queue'),
       json_extract(n.value, '$.priority'),
       json_extract(n.value, '$.input'),
       COALESCE(json_extract(n.value, '$.run_at'), :now),
       :now,
       json_extract(n.value, '$.schedule_due_at'),
       json_extract(n.value, '$.max_attempts'),
       json_extract(n.value, '$.trace_context'),
       json_extract(n.value, '$.unique_key'),
       json_extract(n.value, '$.unique_states')
FROM json_each(:runs) AS n
WHERE true
ORDER BY n.key

-- fragment: unique_holder
-- A run holding its unique key: its status is one of its unique states (a bitmask,
-- models.UNIQUE_STATE_BITS). Word for word the predicate of the unique index of migration 0007,
-- which an ON CONFLICT target must repeat.
unique_key IS NOT NULL
      AND (unique_states & CASE status WHEN 'pending' THEN 1 WHEN 'running' THEN 2
                                       WHEN 'succeeded' THEN 4 WHEN 'failed' THEN 8
                                       WHEN 'cancelled' THEN 16 ELSE 0 END) <> 0

-- fragment: needed_by_a_child
-- Run r has a child that is not final: a waiting run still waits for it, or a released one reads
-- its output (parent_outputs). Deletes and retention keep it.
EXISTS (
    SELECT 1 FROM {prefix}run_parents e JOIN {prefix}runs c ON c.id = e.run_id
    WHERE e.parent_id = r.id AND c.status NOT IN ('succeeded', 'failed', 'cancelled')
)

-- fragment: not_held_by_another
-- Run r may become pending again (a retry): no other run holds its unique key, else the unique
-- index would refuse the change (the run is left as it is).
(r.unique_key IS NULL OR NOT EXISTS (
    SELECT 1 FROM {prefix}runs
    WHERE job_type = r.job_type AND unique_key = r.unique_key AND id <> r.id AND {unique_holder}
))

-- ==============================================================================================
-- definitions and schedules
-- ==============================================================================================

-- name: register_definition
-- Code fields always; the schedule only when one is given (kind not NULL). A changed timing
-- (kind, expression, time zone) clears next_due_at so the scheduler recomputes it.
INSERT INTO {prefix}definitions AS d (
    job_type, queue, max_retries, timeout_seconds, schedule_kind, schedule_expression,
    schedule_timezone, schedule_catch_up, schedule_input_json, updated_at, unique_by_input,
    unique_for_seconds, unique_states
)
VALUES (
    :job_type, :queue, :max_retries, :timeout_seconds, :kind, :expression, :timezone,
    :catch_up, :input_json, :now, :unique_by_input, :unique_for_seconds, :unique_states
)
ON CONFLICT (job_type) DO UPDATE SET
    queue = excluded.queue,
    unique_by_input = excluded.unique_by_input,
    unique_for_seconds = excluded.unique_for_seconds,
    unique_states = excluded.unique_states,
    max_retries = excluded.max_retries,
    timeout_seconds = excluded.timeout_seconds,
    next_due_at = CASE
        WHEN excluded.schedule_kind IS NOT NULL
         AND (d.schedule_kind IS NOT excluded.schedule_kind
              OR d.schedule_expression IS NOT excluded.schedule_expression
              OR d.schedule_timezone IS NOT excluded.schedule_timezone)
        THEN NULL ELSE d.next_due_at END,
    schedule_kind = COALESCE(excluded.schedule_kind, d.schedule_kind),
    schedule_expression = CASE WHEN excluded.schedule_kind IS NULL
        THEN d.schedule_expression ELSE excluded.schedule_expression END,
    schedule_timezone = CASE WHEN excluded.schedule_kind IS NULL
        THEN d.schedule_timezone ELSE excluded.schedule_timezone END,
    schedule_catch_up = CASE WHEN excluded.schedule_kind IS NULL
        THEN d.schedule_catch_up ELSE excluded.schedule_catch_up END,
    schedule_input_json = CASE WHEN excluded.schedule_kind IS NULL
        THEN d.schedule_input_json ELSE excluded.schedule_input_json END,
    updated_at = excluded.updated_at

-- name: get_definition
SELECT d.* FROM {prefix}definitions d WHERE d.job_type = :job_type

-- name: list_definitions
SELECT d.* FROM {prefix}definitions d ORDER BY d.job_type

-- name: set_overrides
INSERT INTO {prefix}definitions AS d (
    job_type, max_retries_override, timeout_seconds_override, updated_at
)
VALUES (:job_type, :max_retries, :timeout_seconds, :now)
ON CONFLICT (job_type) DO UPDATE SET
    max_retries_override = excluded.max_retries_override,
    timeout_seconds_override = excluded.timeout_seconds_override,
    updated_at = excluded.updated_at
RETURNING *

-- name: rebudget_runs
-- After set_overrides, in its transaction: the job type's unfinished runs take the new retry
-- budget, as the runs enqueued later will.
UPDATE {prefix}runs
SET max_attempts = :max_attempts
WHERE job_type = :job_type
  AND status IN ('waiting', 'pending', 'running')
  AND max_attempts <> :max_attempts

-- name: set_enabled
UPDATE {prefix}definitions SET enabled = :enabled, updated_at = :now
WHERE job_type = :job_type
RETURNING *

-- name: set_schedule
INSERT INTO {prefix}definitions AS d (
    job_type, schedule_kind, schedule_expression, schedule_timezone, schedule_catch_up,
    schedule_input_json, next_due_at, updated_at
)
VALUES (:job_type, :kind, :expression, :timezone, :catch_up, :input_json, :next_due_at, :now)
ON CONFLICT (job_type) DO UPDATE SET
    schedule_kind = excluded.schedule_kind,
    schedule_expression = excluded.schedule_expression,
    schedule_timezone = excluded.schedule_timezone,
    schedule_catch_up = excluded.schedule_catch_up,
    schedule_input_json = excluded.schedule_input_json,
    next_due_at = excluded.next_due_at,
    updated_at = excluded.updated_at
RETURNING *

-- name: due_schedules
SELECT d.* FROM {prefix}definitions d
WHERE d.enabled = 1
  AND d.schedule_kind IS NOT NULL
  AND (d.next_due_at IS NULL OR d.next_due_at <= :now)
ORDER BY d.job_type

-- name: advance_schedule
-- Compare and set ("IS" is SQLite's NULL-safe equality): only the scheduler that saw the
-- current next_due_at advances it.
UPDATE {prefix}definitions
SET next_due_at = :new_next_due_at, updated_at = :now
WHERE job_type = :job_type
  AND next_due_at IS :expected_next_due_at
RETURNING job_type

-- name: insert_scheduled_runs
-- Like enqueue_runs, but the unique (job_type, schedule_due_at) index skips due times already
-- enqueued, and the unique key index a run whose key another run holds (no conflict target:
-- either index skips the row).
{insert_new_runs}
ON CONFLICT DO NOTHING
RETURNING id, queue, schedule_due_at

-- name: mark_schedule_fired
UPDATE {prefix}definitions
SET last_due_at = :last_due_at, last_run_id = :last_run_id
WHERE job_type = :job_type

-- ==============================================================================================
-- runs: writing
-- ==============================================================================================

-- name: enqueue_runs
-- One statement for the whole batch (atomic on a caller's connection too). Rows are inserted in
-- array order and AUTOINCREMENT ids only grow, so the sorted ids are in the order given.
{insert_new_runs}
RETURNING id

-- name: enqueue_unique_run
-- One run of a batch with unique keys (:runs holds one run): nothing is inserted when a run of
-- its job type holds its key; unique_holder_of then finds that run.
{insert_new_runs}
ON CONFLICT (job_type, unique_key) WHERE {unique_holder} DO NOTHING
RETURNING id

-- name: unique_holder_of
SELECT id FROM {prefix}runs
WHERE job_type = :job_type AND unique_key = :unique_key AND {unique_holder}

-- name: enqueue_child
-- One run enqueued after parents (workflows; sqlite/workflows.py decides its starting state
-- from its parents' under the write lock).
INSERT INTO {prefix}runs (
    job_type, queue, priority, input, run_at, created_at, max_attempts, trace_context, status,
    parents_left, on_parent_failure, cancelled_by, finished_at, input_from
)
VALUES (
    :job_type, :queue, :priority, :input, COALESCE(:run_at, :now), :now, :max_attempts,
    :trace_context, :status, :parents_left, :policy, :cancelled_by, :finished_at, :input_from
)
RETURNING id, queue, run_at, status

-- name: parent_states
SELECT r.id, r.status, r.cancelled_by FROM {prefix}runs r
WHERE r.id IN (SELECT value FROM json_each(:ids))

-- name: add_parent
INSERT INTO {prefix}run_parents (run_id, parent_id, done) VALUES (:run_id, :parent_id, :done)

-- name: child_edges
-- The runs waiting (or that waited) for a parent, with the state of their edge from it.
SELECT e.run_id, e.done, c.status, c.on_parent_failure, c.cancelled_by
FROM {prefix}run_parents e JOIN {prefix}runs c ON c.id = e.run_id
WHERE e.parent_id = :parent_id
ORDER BY e.run_id

-- name: parents_of
SELECT e.parent_id, e.done, p.status, p.cancelled_by
FROM {prefix}run_parents e LEFT JOIN {prefix}runs p ON p.id = e.parent_id
WHERE e.run_id = :run_id

-- name: set_edge_done
UPDATE {prefix}run_parents SET done = :done WHERE run_id = :run_id AND parent_id = :parent_id

-- name: cancel_waiting
-- A waiting run a parent's failure or cancellation cancels (policy 'cancel').
UPDATE {prefix}runs
SET status = 'cancelled', finished_at = :now, cancelled_by = :cause
WHERE id = :id AND status = 'waiting'

-- name: release_one
-- One parent of a waiting run finished: the run that was waiting for this one only is pending,
-- due at its run_at or now.
UPDATE {prefix}runs
SET parents_left = parents_left - 1,
    status = CASE WHEN parents_left - 1 <= 0 THEN 'pending' ELSE 'waiting' END,
    run_at = CASE WHEN parents_left - 1 <= 0 THEN max(run_at, :now) ELSE run_at END
WHERE id = :id AND status = 'waiting'
RETURNING id, queue, run_at, status

-- name: wait_again
UPDATE {prefix}runs SET parents_left = parents_left + 1 WHERE id = :id AND status = 'waiting'

-- name: rearm_run
UPDATE {prefix}runs
SET status = 'waiting', finished_at = NULL, cancelled_by = NULL, parents_left = :parents_left
WHERE id = :id AND status = 'cancelled'

-- name: parent_outputs
-- Workflows: the outputs of the parents of the steps a claim took, read once when they start.
SELECT e.run_id, e.parent_id, r.output
FROM {prefix}run_parents e
JOIN {prefix}runs r ON r.id = e.parent_id
WHERE e.run_id IN (SELECT value FROM json_each(:ids))
ORDER BY e.run_id, e.parent_id

-- name: run_links
SELECT e.run_id, e.parent_id FROM {prefix}run_parents e
WHERE e.run_id IN (SELECT value FROM json_each(:ids))
UNION
SELECT e.run_id, e.parent_id FROM {prefix}run_parents e
WHERE e.parent_id IN (SELECT value FROM json_each(:ids))
ORDER BY 1, 2

-- name: run_link_page
-- Workflows, for a screen: the first parents and children of one run by id (the primary key
-- for its parents, run_parents_parent_idx for its children: a top-N of that run's edges only)
-- and how many it has of each; one row even without edges (the counts), LEFT JOINed to them.
WITH parents AS (
    SELECT e.parent_id AS id, 'parent' AS side FROM {prefix}run_parents e
    WHERE e.run_id = :id
    ORDER BY e.parent_id
    LIMIT :limit
), children AS (
    SELECT e.run_id AS id, 'child' AS side FROM {prefix}run_parents e
    WHERE e.parent_id = :id
    ORDER BY e.run_id
    LIMIT :limit
)
SELECT n.parents, n.children, l.id, l.side
FROM (SELECT (SELECT count(*) FROM {prefix}run_parents WHERE run_id = :id) AS parents,
             (SELECT count(*) FROM {prefix}run_parents WHERE parent_id = :id) AS children) n
LEFT JOIN (SELECT id, side FROM parents UNION ALL SELECT id, side FROM children) l ON true
ORDER BY l.side, l.id

-- name: claim_candidates
-- One queue at a time (the caller walks the queues in priority order): the partial claim index
-- yields runs already in claim order, so the scan stops after :limit matches.
SELECT r.id FROM {prefix}runs r
WHERE r.status = 'pending'
  AND r.queue = :queue
  AND r.run_at <= :now
  AND r.job_type IN (SELECT value FROM json_each(:job_types))
  -- A paused queue (migration 0008) yields nothing: one primary-key probe, read in the claim's
  -- write transaction, so a pause holds from every worker's next claim on.
  AND NOT EXISTS (SELECT 1 FROM {prefix}queues p WHERE p.name = :queue AND p.paused)
ORDER BY r.priority DESC, r.run_at, r.id
LIMIT :limit

-- name: data_version
-- Changes whenever another connection (of any process) commits to the file: the listener's
-- watcher reads it every few milliseconds, a read of the connection's own state, no I/O.
PRAGMA data_version

-- name: pending_priorities
-- The priorities of one queue's pending runs (the caller walks the queues), highest first: a
-- loose index scan over the partial claim index, one descent per priority, so neither a due
-- backlog nor finished runs are read. None for a paused queue (resuming notifies instead).
WITH RECURSIVE priorities (priority) AS (
    SELECT (SELECT r.priority FROM {prefix}runs r
            WHERE r.status = 'pending' AND r.queue = :queue
            ORDER BY r.priority DESC LIMIT 1)
    UNION ALL
    SELECT (SELECT r.priority FROM {prefix}runs r
            WHERE r.status = 'pending' AND r.queue = :queue AND r.priority < p.priority
            ORDER BY r.priority DESC LIMIT 1)
    FROM priorities p
    WHERE p.priority IS NOT NULL
)
SELECT p.priority
FROM priorities p
WHERE p.priority IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM {prefix}queues q WHERE q.name = :queue AND q.paused)

-- name: next_due
-- The earliest pending runs of one queue and priority (run_at, then id; :runs of them): the first
-- entries of the claim index there, which the workers rank to agree who claims each when due.
SELECT r.id, r.run_at AS due
FROM {prefix}runs r
WHERE r.status = 'pending'
  AND r.queue = :queue
  AND r.priority = :priority
  AND r.job_type IN (SELECT value FROM json_each(:job_types))
ORDER BY r.run_at, r.id
LIMIT :runs

-- name: claim_mark
UPDATE {prefix}runs
SET status = 'running',
    attempt = attempt + 1,
    started_at = :now,
    finished_at = NULL,
    worker_id = :worker_id,
    cancel_requested = 0
WHERE id IN (SELECT value FROM json_each(:ids))
  AND status = 'pending'
RETURNING *

-- name: complete_run
-- Applied only while the run is still running under the same worker and attempt.
UPDATE {prefix}runs
SET status = :status,
    output = COALESCE(:output, output),
    error_type = COALESCE(:error_type, error_type),
    error_message = CASE WHEN :error_type IS NULL THEN error_message ELSE :error_message END,
    error_traceback = CASE WHEN :error_type IS NULL
        THEN error_traceback ELSE :error_traceback END,
    finished_at = CASE WHEN :status = 'pending' THEN NULL ELSE :now END,
    run_at = CASE WHEN :status = 'pending' THEN :retry_at ELSE run_at END,
    worker_id = CASE WHEN :status = 'pending' THEN NULL ELSE worker_id END,
    -- A snooze gives the attempt back (the claim counted it) and is counted on its own.
    attempt = CASE WHEN :snoozed = 1 THEN attempt - 1 ELSE attempt END,
    snoozes = snoozes + :snoozed
WHERE id = :id
  AND status = 'running'
  AND worker_id = :worker_id
  AND attempt = :attempt
RETURNING id, queue, status, run_at

-- name: save_progress
UPDATE {prefix}runs
SET progress_total = :total,
    progress_processed = :processed,
    progress_succeeded = :succeeded,
    progress_failed = :failed
WHERE id = :id

-- name: append_log
-- Entries of runs deleted meanwhile are dropped (the write lock keeps the check honest).
INSERT INTO {prefix}logs (run_id, level, message, logged_at, fields, attempt)
SELECT :run_id, :level, :message, :logged_at, :fields, :attempt
WHERE EXISTS (SELECT 1 FROM {prefix}runs r WHERE r.id = :run_id)

-- ==============================================================================================
-- runs: operator actions and reading
-- ==============================================================================================

-- fragment: run_filter
-- A RunFilter as parameters over the alias r; a NULL parameter does not narrow.
(:f_ids IS NULL OR r.id IN (SELECT value FROM json_each(:f_ids)))
AND (:f_statuses IS NULL OR r.status IN (SELECT value FROM json_each(:f_statuses)))
AND (:f_job_types IS NULL OR r.job_type IN (SELECT value FROM json_each(:f_job_types)))
AND (:f_queues IS NULL OR r.queue IN (SELECT value FROM json_each(:f_queues)))
AND (:f_created_after IS NULL OR r.created_at >= :f_created_after)
AND (:f_created_before IS NULL OR r.created_at < :f_created_before)
AND (:f_worker_ids IS NULL OR r.worker_id IN (SELECT value FROM json_each(:f_worker_ids)))
AND (:f_finished_after IS NULL OR r.finished_at >= :f_finished_after)
AND (:f_finished_before IS NULL OR r.finished_at < :f_finished_before)
-- The free-text search looks at the newest f_search_window runs only, so a search that matches
-- nothing stops there instead of reading the whole history at every refresh: the id bound is a
-- term of its own (not inside an OR), a range on the primary key or on the drive's (x, id) index.
AND r.id > CASE WHEN :f_search IS NULL THEN -1
                ELSE COALESCE((SELECT max(m.id) FROM {prefix}runs m), 0) - :f_search_window END
AND (:f_search IS NULL
     OR instr(lower(r.job_type), lower(:f_search)) > 0
     OR instr(lower(COALESCE(r.error_type, '')), lower(:f_search)) > 0
     OR instr(lower(COALESCE(r.error_message, '')), lower(:f_search)) > 0
     OR instr(lower(r.input), lower(:f_search)) > 0)
AND (:f_scheduled IS NULL
     OR (r.status = 'pending' AND r.run_at > :f_now) = :f_scheduled)

-- fragment: drive_all
-- No single-valued filter: walk the primary key (newest first for listings).
1

-- fragment: drive_ids
r.id IN (SELECT value FROM json_each(:f_ids))

-- fragment: drive_status
r.status = :d_status

-- fragment: drive_job_type
r.job_type = :d_job_type

-- fragment: drive_queue
r.queue = :d_queue

-- name: retry_runs
UPDATE {prefix}runs AS r
SET status = 'pending',
    run_at = :now,
    attempt = 0,
    finished_at = NULL,
    worker_id = NULL,
    cancel_requested = 0,
    cancelled_by = NULL
WHERE {drive}
  AND {run_filter}
  AND r.status IN ('failed', 'cancelled')
  AND {not_held_by_another}
  AND r.id NOT IN (SELECT value FROM json_each(:superseded))
RETURNING id, queue

-- name: retry_keyed
-- The keyed runs retry_runs would put back: of those sharing a key, only the newest is
-- retried (both would hold the key); the caller passes the others as "superseded".
SELECT r.id, r.job_type, r.unique_key FROM {prefix}runs r
WHERE {drive}
  AND {run_filter}
  AND r.status IN ('failed', 'cancelled')
  AND r.unique_key IS NOT NULL

-- name: cancel_runs
-- Pending runs end at once; running ones get a request (the caller wakes their worker).
-- "+r.status" keeps the planner on the driving term's index (a cancel by id must not walk
-- every pending run through the status index).
UPDATE {prefix}runs AS r
SET status = CASE WHEN r.status IN ('pending', 'waiting') THEN 'cancelled' ELSE r.status END,
    finished_at = CASE WHEN r.status IN ('pending', 'waiting') THEN :now ELSE r.finished_at END,
    cancel_requested = CASE WHEN r.status = 'running' THEN 1 ELSE r.cancel_requested END
WHERE {drive}
  AND {run_filter}
  AND (+r.status IN ('pending', 'waiting')
       OR (+r.status = 'running' AND r.cancel_requested = 0))
RETURNING id, queue, status

-- name: delete_runs
-- Their logs go by the foreign key's cascade.
DELETE FROM {prefix}runs AS r
WHERE {drive}
  AND {run_filter}
  AND r.status <> 'running'
  AND NOT {needed_by_a_child}
RETURNING id

-- name: cancel_requested
SELECT r.id FROM {prefix}runs r
WHERE r.status = 'running' AND r.worker_id = :worker_id AND r.cancel_requested = 1
ORDER BY r.id

-- name: get_runs
SELECT r.* FROM {prefix}runs r WHERE r.id IN (SELECT value FROM json_each(:ids)) ORDER BY r.id

-- name: latest_runs
-- The newest run of each job type: the last entry of the (job_type, id) index per type.
SELECT r.*
FROM json_each(:job_types) AS t
JOIN {prefix}runs r
  ON r.id = (SELECT max(x.id) FROM {prefix}runs x WHERE x.job_type = t.value)
ORDER BY r.job_type

-- name: latest_failures
-- The failures that finished last: a backward walk of the failed runs' finish-time index
-- (migration 0005), then those few ordered by id where they share a finish time (an id in the
-- index's order would make the planner read and sort every failure). Named: left to itself,
-- the planner takes the status index and sorts every failure.
SELECT * FROM (
    SELECT r.* FROM {prefix}runs r INDEXED BY {prefix}runs_failed_idx
    WHERE r.status = 'failed'
    ORDER BY r.finished_at DESC
    LIMIT :limit
) f
ORDER BY f.finished_at DESC, f.id DESC

-- name: list_runs
-- Newest first by id: a backward walk of the primary key or of an (x, id) index.
SELECT r.* FROM {prefix}runs r
WHERE {drive}
  AND {run_filter}
  AND (:before_id IS NULL OR r.id < :before_id)
ORDER BY r.id DESC
LIMIT :limit

-- Sorted listings (RunSort, Page.after): each walks an index in its order and stops at the
-- limit; the cursor (:c_value, :c_id) is the previous page's last run, NULL on the first page.
-- name: list_runs_created_asc
SELECT r.* FROM {prefix}runs r
WHERE {run_filter}
  AND (:c_id IS NULL OR r.id > :c_id)
ORDER BY r.id
LIMIT :limit

-- name: list_runs_job_desc
-- The (job_type, id) index.
SELECT r.* FROM {prefix}runs r
WHERE {run_filter}
  AND (:c_id IS NULL OR (r.job_type, r.id) < (:c_value, :c_id))
ORDER BY r.job_type DESC, r.id DESC
LIMIT :limit

-- name: list_runs_job_asc
SELECT r.* FROM {prefix}runs r
WHERE {run_filter}
  AND (:c_id IS NULL OR (r.job_type, r.id) > (:c_value, :c_id))
ORDER BY r.job_type, r.id
LIMIT :limit

-- name: list_runs_finished_desc
-- The finish-time index, ties by id; "<=" bounds the walk, the row value drops the runs listed.
SELECT r.* FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NOT NULL
  AND (:c_id IS NULL
       OR (r.finished_at <= :c_value AND (r.finished_at, r.id) < (:c_value, :c_id)))
ORDER BY r.finished_at DESC, r.id DESC
LIMIT :limit

-- name: list_runs_finished_asc
SELECT r.* FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NOT NULL
  AND (:c_id IS NULL
       OR (r.finished_at >= :c_value AND (r.finished_at, r.id) > (:c_value, :c_id)))
ORDER BY r.finished_at, r.id
LIMIT :limit

-- name: list_runs_unfinished_desc
-- After the finished runs: those without a finish time, by id.
SELECT r.* FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NULL
  AND (:c_id IS NULL OR r.id < :c_id)
ORDER BY r.id DESC
LIMIT :limit

-- name: list_runs_unfinished_asc
SELECT r.* FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NULL
  AND (:c_id IS NULL OR r.id > :c_id)
ORDER BY r.id
LIMIT :limit

-- name: count_runs
SELECT count(*) AS n FROM {prefix}runs r WHERE {drive} AND {run_filter}

-- fragment: log_filter
-- One run's entries between the cursors (the (run_id, id) index bounds the walk), at or above a
-- level, containing a text (case-insensitive, in the message or the fields' JSON).
l.run_id = :run_id
  AND (:after_id IS NULL OR l.id > :after_id)
  AND (:before_id IS NULL OR l.id < :before_id)
  AND (:min_level IS NULL OR l.level >= :min_level)
  AND (:search IS NULL
       OR instr(lower(l.message), lower(:search)) > 0
       OR instr(lower(l.fields), lower(:search)) > 0)

-- name: list_logs
SELECT l.* FROM {prefix}logs l
WHERE {log_filter}
ORDER BY l.id
LIMIT :limit

-- name: list_logs_newest
-- The run detail's first page and its pages back: the same index walked backwards.
SELECT l.* FROM {prefix}logs l
WHERE {log_filter}
ORDER BY l.id DESC
LIMIT :limit

-- name: count_logs
SELECT count(*) AS n FROM {prefix}logs l
WHERE l.run_id = :run_id
  AND (:min_level IS NULL OR l.level >= :min_level)

-- name: stats
-- Bounded by the live workload, not the history: pending runs (due now or later) from the
-- partial claim index, running ones from theirs, exact; finished runs from the counts the
-- triggers of migration 0005 keep, also exact.
-- The pending branch also gives each queue's oldest due time (its lag), from the same rows.
SELECT r.queue,
       CASE WHEN r.run_at > :now THEN 'scheduled' ELSE 'pending' END AS bucket,
       count(*) AS n,
       min(CASE WHEN r.run_at <= :now THEN r.run_at END) AS oldest_due_at
FROM {prefix}runs r INDEXED BY {prefix}runs_claim_idx
WHERE r.status = 'pending'
GROUP BY 1, 2
UNION ALL
SELECT r.queue, 'running', count(*), NULL
FROM {prefix}runs r INDEXED BY {prefix}runs_running_idx
WHERE r.status = 'running'
GROUP BY 1
UNION ALL
SELECT r.queue, 'waiting', count(*), NULL
FROM {prefix}runs r INDEXED BY {prefix}runs_waiting_idx
WHERE r.status = 'waiting'
GROUP BY 1
UNION ALL
SELECT c.queue, c.status, sum(c.n), NULL
FROM {prefix}run_counts c
GROUP BY 1, 2
HAVING sum(c.n) <> 0

-- name: throughput
-- "+r.status" (here and in error_groups): the finished_at range is the narrow term.
SELECT (r.finished_at / 60000000) * 60000000 AS minute,
       sum(r.status = 'succeeded') AS succeeded,
       sum(r.status = 'failed') AS failed
FROM {prefix}runs r
WHERE r.finished_at >= :since
  AND r.finished_at <= :now
  AND +r.status IN ('succeeded', 'failed')
GROUP BY 1
ORDER BY 1

-- name: job_type_stats
-- The Jobs view's recent health per job type: a range of runs_finished_idx ("+r.status", as in
-- throughput). SQLite has no percentile_cont, so its rule is spelled out (the same as
-- zapjobs.core.percentile): the value at rank f * (n - 1) of the sorted durations, interpolated
-- between that rank's two neighbours. Runs without a start are counted, not timed.
WITH done AS (
    SELECT r.job_type, r.status, (r.finished_at - r.started_at) / 1000000.0 AS took
    FROM {prefix}runs r
    WHERE r.finished_at >= :since
      AND r.finished_at <= :now
      AND +r.status IN ('succeeded', 'failed')
),
ranked AS (
    SELECT d.job_type, d.took,
           row_number() OVER (PARTITION BY d.job_type ORDER BY d.took) - 1 AS i,
           0.5 * (count(*) OVER (PARTITION BY d.job_type) - 1) AS at50,
           0.95 * (count(*) OVER (PARTITION BY d.job_type) - 1) AS at95
    FROM done d
    WHERE d.took IS NOT NULL
),
percentiles AS (
    SELECT k.job_type,
           sum(CASE WHEN k.i = CAST(k.at50 AS INTEGER)
                    THEN k.took * (1 - (k.at50 - CAST(k.at50 AS INTEGER)))
                    WHEN k.i = CAST(k.at50 AS INTEGER) + 1
                    THEN k.took * (k.at50 - CAST(k.at50 AS INTEGER))
                    ELSE 0 END) AS p50,
           sum(CASE WHEN k.i = CAST(k.at95 AS INTEGER)
                    THEN k.took * (1 - (k.at95 - CAST(k.at95 AS INTEGER)))
                    WHEN k.i = CAST(k.at95 AS INTEGER) + 1
                    THEN k.took * (k.at95 - CAST(k.at95 AS INTEGER))
                    ELSE 0 END) AS p95
    FROM ranked k
    GROUP BY k.job_type
)
SELECT d.job_type,
       sum(d.status = 'succeeded') AS succeeded,
       sum(d.status = 'failed') AS failed,
       p.p50, p.p95
FROM done d
LEFT JOIN percentiles p ON p.job_type = d.job_type
GROUP BY d.job_type
ORDER BY d.job_type

-- name: run_backlog
-- The metrics exporter's queue depths, read at every scrape: each branch reads only the runs of
-- its partial index (runs_claim_idx: pending, runs_running_idx: running, runs_waiting_idx:
-- waiting), never finished runs.
SELECT r.queue, r.job_type,
       sum(r.run_at <= :now) AS pending,
       sum(r.run_at > :now) AS scheduled,
       0 AS running,
       min(CASE WHEN r.run_at <= :now THEN r.run_at END) AS oldest_due_at,
       0 AS waiting
FROM {prefix}runs r
WHERE r.status = 'pending'
GROUP BY r.queue, r.job_type
UNION ALL
SELECT r.queue, r.job_type, 0, 0, count(*), NULL, 0
FROM {prefix}runs r
WHERE r.status = 'running'
GROUP BY r.queue, r.job_type
UNION ALL
SELECT r.queue, r.job_type, 0, 0, 0, NULL, count(*)
FROM {prefix}runs r
WHERE r.status = 'waiting'
GROUP BY r.queue, r.job_type

-- name: failures_since
-- Failed runs of a recent window per queue and job type ("+r.status": the finished_at range
-- is the narrow term, as in throughput).
SELECT r.queue, r.job_type, count(*) AS n
FROM {prefix}runs r
WHERE r.finished_at >= :since
  AND +r.status = 'failed'
GROUP BY r.queue, r.job_type

-- name: error_groups
-- SQLite fills the bare column error_message from the row that holds max(r.id): the message
-- of the latest failure of each type.
-- The failures of the window only, from their partial index (migration 0005).
SELECT r.error_type,
       count(*) AS n,
       max(r.id) AS last_run_id,
       r.error_message AS last_message
FROM {prefix}runs r INDEXED BY {prefix}runs_failed_idx
WHERE r.status = 'failed'
  AND r.error_type IS NOT NULL
  AND r.finished_at >= :since
GROUP BY r.error_type
ORDER BY n DESC, last_run_id DESC
LIMIT :limit

-- ==============================================================================================
-- queues
-- ==============================================================================================

-- ==============================================================================================
-- flow control: concurrency caps and rate limits (migration 0010, zapjobs.core.flow)
-- ==============================================================================================

-- fragment: flow_columns
l.scope, l.name, l.max_concurrency, l.rate_count, l.rate_period, l.max_concurrency_override,
l.rate_count_override, l.rate_period_override

-- name: flow_applying
-- The limits rows that limit the claim's job types or queues (primary-key probes), read in the
-- claim's write transaction: the claim computes the budgets (zapjobs.core.flow) from them and
-- the running runs, with no other writer in between.
SELECT {flow_columns}, l.window_index, l.window_used
FROM {prefix}flow_limits l
WHERE ((l.scope = 'job' AND l.name IN (SELECT value FROM json_each(:job_types)))
       OR (l.scope = 'queue' AND l.name IN (SELECT value FROM json_each(:queues))))
  AND (l.max_concurrency IS NOT NULL OR l.max_concurrency_override IS NOT NULL
       OR l.rate_count IS NOT NULL OR l.rate_count_override IS NOT NULL)
ORDER BY l.scope, l.name

-- name: running_pairs
-- Every running run's job type and queue, from the partial running index (a limited claim only).
SELECT r.job_type, r.queue, count(*) AS n FROM {prefix}runs r
WHERE r.status = 'running'
GROUP BY r.job_type, r.queue

-- name: claim_candidates_limited
-- claim_candidates for a limited claim: only the job types with starts left (:job_types), the
-- job type of each candidate for the budgets to cut them in claim order.
SELECT r.id, r.job_type, r.queue FROM {prefix}runs r
WHERE r.status = 'pending'
  AND r.queue = :queue
  AND r.run_at <= :now
  AND r.job_type IN (SELECT value FROM json_each(:job_types))
  AND NOT EXISTS (SELECT 1 FROM {prefix}queues p WHERE p.name = :queue AND p.paused)
ORDER BY r.priority DESC, r.run_at, r.id
LIMIT :limit

-- name: flow_spend
-- The rate window state after a limited claim's starts.
UPDATE {prefix}flow_limits
SET window_index = :window_index, window_used = :window_used, claims = claims + 1
WHERE scope = :scope AND name = :name

-- name: declare_flow_limit
-- One job type's or queue's declared values: an existing row takes them (NULL clears them); a
-- new row is made only when it declares a limit. A changed effective rate starts a new count.
INSERT INTO {prefix}flow_limits AS l (
    scope, name, max_concurrency, rate_count, rate_period, updated_at
)
SELECT :scope, :name, :cap, :rate_count, :rate_period, :now
WHERE :cap IS NOT NULL OR :rate_count IS NOT NULL
   OR EXISTS (SELECT 1 FROM {prefix}flow_limits x WHERE x.scope = :scope AND x.name = :name)
ON CONFLICT (scope, name) DO UPDATE SET
    max_concurrency = excluded.max_concurrency,
    rate_count = excluded.rate_count,
    rate_period = excluded.rate_period,
    window_index = CASE
        WHEN l.rate_count_override IS NULL
         AND (l.rate_count IS NOT excluded.rate_count OR l.rate_period IS NOT excluded.rate_period)
        THEN NULL ELSE l.window_index END,
    updated_at = excluded.updated_at

-- name: set_flow_override
INSERT INTO {prefix}flow_limits AS l (
    scope, name, max_concurrency_override, rate_count_override, rate_period_override, updated_at
)
VALUES (:scope, :name, :cap, :rate_count, :rate_period, :now)
ON CONFLICT (scope, name) DO UPDATE SET
    max_concurrency_override = excluded.max_concurrency_override,
    rate_count_override = excluded.rate_count_override,
    rate_period_override = excluded.rate_period_override,
    window_index = NULL,
    window_used = 0,
    updated_at = excluded.updated_at
RETURNING scope, name, max_concurrency, rate_count, rate_period, max_concurrency_override,
          rate_count_override, rate_period_override

-- name: list_flow_limits
SELECT {flow_columns} FROM {prefix}flow_limits l ORDER BY l.scope, l.name

-- name: set_queue_paused
INSERT INTO {prefix}queues (name, paused, updated_at)
VALUES (:queue, :paused, :now)
ON CONFLICT (name) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at

-- name: queue_states
SELECT q.name, q.paused FROM {prefix}queues q ORDER BY q.name

-- name: finished_per_queue
-- Runs finished in a recent window per queue: a range of runs_finished_idx.
SELECT r.queue, count(*) AS n
FROM {prefix}runs r
WHERE r.finished_at >= :since
  AND r.finished_at <= :now
  AND r.status IN ('succeeded', 'failed')
GROUP BY r.queue

-- ==============================================================================================
-- workers
-- ==============================================================================================

-- name: heartbeat
-- A returning worker is alive again (dead_at cleared); its start time is kept.
INSERT INTO {prefix}heartbeats AS w (
    id, host, pid, queues, started_at, last_seen_at, running, concurrency, stopped_at, dead_at
)
VALUES (
    :id, :host, :pid, :queues, :started_at, :now, :running, :concurrency, :stopped_at, :dead_at
)
ON CONFLICT (id) DO UPDATE SET
    host = excluded.host,
    pid = excluded.pid,
    queues = excluded.queues,
    last_seen_at = excluded.last_seen_at,
    running = excluded.running,
    concurrency = excluded.concurrency,
    dead_at = NULL

-- name: worker_dead_at
SELECT dead_at FROM {prefix}heartbeats WHERE id = :id

-- name: worker_stopped
UPDATE {prefix}heartbeats
SET stopped_at = :now, last_seen_at = :now, running = 0
WHERE id = :id

-- name: list_workers
SELECT w.* FROM {prefix}heartbeats w ORDER BY w.last_seen_at DESC, w.id DESC

-- name: get_worker
SELECT w.* FROM {prefix}heartbeats w WHERE w.id = :id

-- ==============================================================================================
-- maintenance (each under BEGIN IMMEDIATE: one process at a time, so each run is rescued once)
-- ==============================================================================================

-- name: rescue_mark_workers
UPDATE {prefix}heartbeats
SET dead_at = :now
WHERE stopped_at IS NULL
  AND dead_at IS NULL
  AND last_seen_at < :cutoff
RETURNING id

-- name: rescue_lost_runs
-- A run is lost when its worker was last seen before the cutoff, or, with no worker row, when
-- it started before the cutoff. It has attempts left while attempt < its max_attempts.
SELECT r.id, r.attempt < r.max_attempts AS retry
FROM {prefix}runs r
LEFT JOIN {prefix}heartbeats w ON w.id = r.worker_id
WHERE r.status = 'running'
  AND CASE WHEN w.id IS NULL
           THEN r.started_at IS NULL OR r.started_at < :cutoff
           ELSE w.last_seen_at < :cutoff
      END
ORDER BY r.id

-- fragment: worker_lost
-- What a rescued run records, retried or failed.
error_type = 'WorkerLost',
error_message = 'worker ' || COALESCE(worker_id, 'unknown') || ' stopped sending heartbeats',
error_traceback = NULL,
worker_id = NULL,
cancel_requested = 0

-- name: rescue_retry_runs
UPDATE {prefix}runs
SET status = 'pending',
    run_at = :now,
    finished_at = NULL,
    {worker_lost}
WHERE id IN (SELECT value FROM json_each(:ids))
  AND status = 'running'
RETURNING id, queue

-- name: rescue_fail_runs
UPDATE {prefix}runs
SET status = 'failed',
    finished_at = :now,
    {worker_lost}
WHERE id IN (SELECT value FROM json_each(:ids))
  AND status = 'running'
RETURNING id

-- name: prune_runs
-- One short batch; the caller loops until a batch comes back short. Logs go by cascade.
-- "+r.status": the finished_at index finds exactly the expired runs.
DELETE FROM {prefix}runs
WHERE id IN (
    SELECT r.id FROM {prefix}runs r
    WHERE +r.status IN ('succeeded', 'failed', 'cancelled')
      AND r.finished_at < :cutoff
      -- workflows: a run goes with or after its children, once each is final and past retention
      AND NOT EXISTS (
          SELECT 1 FROM {prefix}run_parents e JOIN {prefix}runs c ON c.id = e.run_id
          WHERE e.parent_id = r.id
            AND (c.status NOT IN ('succeeded', 'failed', 'cancelled') OR c.finished_at >= :cutoff)
      )
    LIMIT :batch_size
)

-- name: prune_logs
DELETE FROM {prefix}logs
WHERE id IN (
    SELECT l.id FROM {prefix}logs l
    WHERE l.logged_at < :cutoff
    LIMIT :batch_size
)

-- name: prune_workers
DELETE FROM {prefix}heartbeats
WHERE id IN (
    SELECT w.id FROM {prefix}heartbeats w
    WHERE (w.stopped_at IS NOT NULL OR w.dead_at IS NOT NULL)
      AND w.last_seen_at < :cutoff
    LIMIT :batch_size
)

-- ==============================================================================================
-- diagnosis (zapjobs doctor): cheap reads of pending and running runs and of the oldest rows
-- ==============================================================================================

-- name: queue_backlog
-- Pending runs only (the claim index holds them all, ordered by queue).
SELECT r.queue AS queue,
       count(*) AS pending,
       sum(r.run_at <= :now) AS due,
       sum(r.run_at < :overdue_before) AS overdue,
       min(CASE WHEN r.run_at <= :now THEN r.run_at END) AS oldest_due_at
FROM {prefix}runs r INDEXED BY {prefix}runs_claim_idx
WHERE r.status = 'pending'
GROUP BY r.queue
ORDER BY r.queue

-- name: running_by_job_type
-- Running runs only (the running index holds them all).
SELECT g.job_type,
       g.running,
       g.oldest_started_at,
       (SELECT min(x.id) FROM {prefix}runs x INDEXED BY {prefix}runs_running_idx
        WHERE x.status = 'running' AND x.job_type = g.job_type
          AND x.started_at = g.oldest_started_at) AS oldest_run_id
FROM (
    SELECT r.job_type, count(*) AS running, min(r.started_at) AS oldest_started_at
    FROM {prefix}runs r INDEXED BY {prefix}runs_running_idx
    WHERE r.status = 'running' AND r.started_at IS NOT NULL
    GROUP BY r.job_type
) g
ORDER BY g.job_type

-- name: retention_facts
-- Each walks its time index from the oldest end and stops at the first row.
SELECT (SELECT r.finished_at FROM {prefix}runs r INDEXED BY {prefix}runs_finished_idx
        WHERE r.finished_at IS NOT NULL AND r.status IN ('succeeded', 'failed', 'cancelled')
        ORDER BY r.finished_at LIMIT 1) AS oldest_finished_at,
       (SELECT l.logged_at FROM {prefix}logs l INDEXED BY {prefix}logs_logged_at_idx
        ORDER BY l.logged_at LIMIT 1) AS oldest_log_at
