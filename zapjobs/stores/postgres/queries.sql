-- Every SQL statement the PostgreSQL store runs, one named block each.
--
-- "-- name: x" starts a statement, "-- fragment: x" a piece that statements include as {x}.
-- {prefix} becomes the schema-qualified, validated table prefix; {channel} (LISTEN only) the
-- quoted notification channel. Every value is a bound parameter. Whole-line comments are
-- dropped when loading; keep percent signs out of the SQL text (psycopg reads them).
-- "now" parameters are NULL in production: {now} falls back to the server's clock.
-- The arrays of the batches a worker writes (outcomes, progress, logs) are sent in binary,
-- %(x)b: psycopg quotes each element of an array in text format, 2.2 us a string (a batch of
-- 100 outputs: 221 us against 27 in binary), paid in the worker's one thread for every job.

-- ==============================================================================================
-- session and schema
-- ==============================================================================================

-- name: session_setup
-- The general pool. UTC so timestamps come back in UTC. Its statements are sent unprepared, so
-- the server plans each with its values: the typed filters (x IS NULL OR ...) fold away only
-- then.
SET TIME ZONE 'UTC'

-- name: session_setup_hot
-- The hot pool: the claim and the enqueues (sql.PREPARED), prepared once per connection and run
-- on their generic plan, so the server neither parses nor plans them at each call. A generic
-- plan made while the table looked empty would scan it for as long as the plan is cached (until
-- the next ANALYZE): with sequential scans off these statements always walk their indexes.
SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET TIME ZONE 'UTC'

-- name: current_schema
-- Also the session's statement_timeout (ms, 0 = none): the client's deadline is set after it.
SELECT current_schema() AS schema,
       (SELECT s.setting::bigint FROM pg_settings s WHERE s.name = 'statement_timeout')
           AS statement_timeout_ms

-- name: migrations_lock
SELECT pg_advisory_lock(hashtextextended(%(lock_key)s, 0))

-- name: migrations_unlock
SELECT pg_advisory_unlock(hashtextextended(%(lock_key)s, 0))

-- name: migrations_create_table
CREATE TABLE IF NOT EXISTS {prefix}migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)

-- name: uninstall
DROP TABLE IF EXISTS {prefix}logs, {prefix}run_parents, {prefix}runs, {prefix}flow_grants,
    {prefix}heartbeats, {prefix}definitions, {prefix}queues, {prefix}run_counts,
    {prefix}flow_limits, {prefix}migrations

-- name: migrations_applied
SELECT version FROM {prefix}migrations ORDER BY version

-- name: migrations_record
INSERT INTO {prefix}migrations (version, name) VALUES (%(version)s, %(name)s)

-- name: listen
LISTEN {channel}

-- name: unlisten
UNLISTEN {channel}

-- name: ping
SELECT 1 AS ok

-- ==============================================================================================
-- column lists: explicit, so a later migration that adds a column does not change the result
-- type of statements psycopg has prepared on long-lived connections
-- ==============================================================================================

-- fragment: definition_columns
d.job_type, d.queue, d.max_retries, d.timeout_seconds, d.max_retries_override,
d.timeout_seconds_override, d.enabled, d.schedule_kind, d.schedule_expression,
d.schedule_timezone, d.schedule_catch_up, d.schedule_input_json, d.next_due_at, d.last_due_at,
d.last_run_id, d.updated_at, d.unique_by_input, d.unique_for_seconds, d.unique_states

-- fragment: run_columns
r.id, r.job_type, r.queue, r.priority, r.status, r.input, r.output, r.error_type,
r.error_message, r.error_traceback, r.attempt, r.run_at, r.created_at, r.started_at,
r.finished_at, r.worker_id, r.progress_total, r.progress_processed, r.progress_succeeded,
r.progress_failed, r.cancel_requested, r.schedule_due_at, r.max_attempts, r.trace_context,
r.unique_key, r.unique_states, r.parents_left, r.on_parent_failure, r.cancelled_by,
r.input_from, r.snoozes

-- fragment: log_columns
l.id, l.run_id, l.level, l.message, l.logged_at, l.fields, l.attempt

-- fragment: worker_columns
w.id, w.host, w.pid, w.queues, w.started_at, w.last_seen_at, w.running, w.concurrency,
w.stopped_at, w.dead_at

-- ==============================================================================================
-- shared pieces of the statements below
-- ==============================================================================================

-- fragment: now
-- The "now" of a statement: the caller's (tests, a fake clock), else the server's clock.
COALESCE(%(now)s::timestamptz, now())

-- fragment: notify
-- Every wake-up: one NOTIFY per row of n (kind, run_id, queue) on this installation's channel,
-- sent at commit, so never before the rows are visible. Payloads like {"k":"runs","q":"mail"}
-- or {"k":"cancel","r":7,"q":"mail"} (notify.decode reads them back).
pg_notify(%(channel)s,
          json_strip_nulls(json_build_object('k', n.kind, 'r', n.run_id, 'q', n.queue))::text)

-- fragment: notify_due
-- {notify} for runs that became pending, with "d": the seconds until the earliest of them is due
-- when it is not due yet (n.due_in, NULL when due now), e.g. {"k":"runs","q":"mail","d":2.5}:
-- woken workers arm their timer instead of claiming. Seconds from the server's now, so a worker
-- whose clock is off still wakes on time. New runs due now add "n" (how many, n.count) and "t"
-- (a token, n.token: the lowest id): the workers agree from it which n of them claim.
pg_notify(%(channel)s,
          json_strip_nulls(json_build_object('k', n.kind, 'q', n.queue, 'd', n.due_in,
                                             'n', n.count, 't', n.token))::text)

-- fragment: notify_shard
-- {notify_due} for one run d just inserted (enqueue_run's RETURNING: the row's own columns, no
-- subquery), count 1 and token its id. Due now: on one of the installation's shard channels
-- (channel_name + "_" + the run id modulo %(shards)s), which only the worker ranked first for
-- that shard among a queue's live workers listens to (runtime/peers.py), so one worker is woken,
-- not every one listening. Due later: on the installation's channel, with "d" as {due_in}.
pg_notify(CASE WHEN {due_in} IS NULL
               THEN %(channel)s || '_' || mod(d.id, %(shards)s::bigint)
               ELSE %(channel)s END,
          json_strip_nulls(json_build_object('k', 'runs', 'q', d.queue, 'd', {due_in},
                                             'n', 1, 't', d.id))::text)

-- fragment: due_in
-- The seconds from now until d.run_at, or NULL when d is due already ({notify_due}'s n.due_in).
CASE WHEN d.run_at > {now} THEN EXTRACT(EPOCH FROM d.run_at - {now}) END

-- fragment: run_insert_columns
-- What an enqueue writes (every other column starts at its default); the order of copy_text().
id, job_type, queue, priority, input, run_at, created_at, schedule_due_at, max_attempts,
trace_context, unique_key, unique_states

-- fragment: unique_holder
-- A run holding its unique key: its status is one of its unique states (a bitmask,
-- models.UNIQUE_STATE_BITS). Word for word the predicate of the unique index of migration 0007,
-- which an ON CONFLICT target must repeat; unqualified, so it reads the runs of its own FROM.
unique_key IS NOT NULL
      AND (unique_states & CASE status WHEN 'pending' THEN 1 WHEN 'running' THEN 2
                                       WHEN 'succeeded' THEN 4 WHEN 'failed' THEN 8
                                       WHEN 'cancelled' THEN 16 ELSE 0 END) <> 0

-- fragment: new_runs
-- The runs of a batch as unnest()ed arrays (rows.new_run_params), each with an id drawn in the
-- order given, so the ids can be returned in that order.
new_runs AS (
    SELECT nextval(%(runs_seq)s::regclass) AS id, t.*
    FROM unnest(
        %(job_types)s::text[], %(inputs)s::text[], %(queues)s::text[], %(priorities)s::integer[],
        %(run_ats)s::timestamptz[], %(due_ats)s::timestamptz[], %(max_attempts)s::integer[],
        %(trace_contexts)s::text[], %(unique_keys)s::text[], %(unique_states)s::smallint[]
    ) WITH ORDINALITY AS t (
        job_type, input, queue, priority, run_at, schedule_due_at, max_attempts, trace_context,
        unique_key, unique_states, ord
    )
)

-- fragment: insert_new_runs
-- The batch's rows, due at run_at (else now), created now ("now" NULL: the server's clock).
INSERT INTO {prefix}runs ({run_insert_columns})
SELECT n.id, n.job_type, n.queue, n.priority, n.input::jsonb,
       COALESCE(n.run_at, %(now)s::timestamptz, now()),
       {now},
       n.schedule_due_at, n.max_attempts, n.trace_context, n.unique_key, n.unique_states
FROM new_runs n
ORDER BY n.ord

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

-- name: register_definitions
-- Code fields always; the schedule only when one is given (kind not NULL). A changed timing
-- (kind, expression, time zone) clears next_due_at so the scheduler recomputes it.
INSERT INTO {prefix}definitions AS d (
    job_type, queue, max_retries, timeout_seconds, schedule_kind, schedule_expression,
    schedule_timezone, schedule_catch_up, schedule_input_json, updated_at, unique_by_input,
    unique_for_seconds, unique_states
)
SELECT t.job_type, t.queue, t.max_retries, t.timeout_seconds, t.kind, t.expression,
       t.timezone, t.catch_up, t.input_json, now(), t.unique_by_input, t.unique_for_seconds,
       t.unique_states
FROM unnest(
    %(job_types)s::text[], %(queues)s::text[], %(max_retries)s::integer[],
    %(timeouts)s::double precision[], %(kinds)s::text[], %(expressions)s::text[],
    %(timezones)s::text[], %(catch_ups)s::text[], %(inputs)s::text[],
    %(unique_by_input)s::boolean[], %(unique_for_seconds)s::double precision[],
    %(unique_states)s::smallint[]
) AS t (job_type, queue, max_retries, timeout_seconds, kind, expression, timezone, catch_up,
        input_json, unique_by_input, unique_for_seconds, unique_states)
ON CONFLICT (job_type) DO UPDATE SET
    queue = EXCLUDED.queue,
    unique_by_input = EXCLUDED.unique_by_input,
    unique_for_seconds = EXCLUDED.unique_for_seconds,
    unique_states = EXCLUDED.unique_states,
    max_retries = EXCLUDED.max_retries,
    timeout_seconds = EXCLUDED.timeout_seconds,
    next_due_at = CASE
        WHEN EXCLUDED.schedule_kind IS NOT NULL
         AND (d.schedule_kind, d.schedule_expression, d.schedule_timezone)
             IS DISTINCT FROM
             (EXCLUDED.schedule_kind, EXCLUDED.schedule_expression, EXCLUDED.schedule_timezone)
        THEN NULL ELSE d.next_due_at END,
    schedule_kind = COALESCE(EXCLUDED.schedule_kind, d.schedule_kind),
    schedule_expression = CASE WHEN EXCLUDED.schedule_kind IS NULL
        THEN d.schedule_expression ELSE EXCLUDED.schedule_expression END,
    schedule_timezone = CASE WHEN EXCLUDED.schedule_kind IS NULL
        THEN d.schedule_timezone ELSE EXCLUDED.schedule_timezone END,
    schedule_catch_up = CASE WHEN EXCLUDED.schedule_kind IS NULL
        THEN d.schedule_catch_up ELSE EXCLUDED.schedule_catch_up END,
    schedule_input_json = CASE WHEN EXCLUDED.schedule_kind IS NULL
        THEN d.schedule_input_json ELSE EXCLUDED.schedule_input_json END,
    updated_at = now()

-- name: get_definition
SELECT {definition_columns} FROM {prefix}definitions d WHERE d.job_type = %(job_type)s

-- name: list_definitions
SELECT {definition_columns} FROM {prefix}definitions d ORDER BY d.job_type COLLATE "C"

-- name: set_overrides
-- The job type's unfinished runs take the new retry budget in the same statement: an override
-- wins over the max_attempts they were enqueued with, as it does for the runs enqueued later.
WITH changed AS (
    INSERT INTO {prefix}definitions AS d (
        job_type, max_retries_override, timeout_seconds_override
    )
    VALUES (%(job_type)s, %(max_retries)s::integer, %(timeout_seconds)s::double precision)
    ON CONFLICT (job_type) DO UPDATE SET
        max_retries_override = EXCLUDED.max_retries_override,
        timeout_seconds_override = EXCLUDED.timeout_seconds_override,
        updated_at = now()
    RETURNING {definition_columns}
),
rebudgeted AS (
    UPDATE {prefix}runs r
    SET max_attempts = COALESCE(c.max_retries_override, c.max_retries) + 1
    FROM changed c
    WHERE r.job_type = c.job_type
      AND r.status IN ('waiting', 'pending', 'running')
      AND r.max_attempts <> COALESCE(c.max_retries_override, c.max_retries) + 1
    RETURNING r.id
)
SELECT c.* FROM changed c

-- name: set_enabled
UPDATE {prefix}definitions d SET enabled = %(enabled)s, updated_at = now()
WHERE d.job_type = %(job_type)s
RETURNING {definition_columns}

-- name: set_schedule
INSERT INTO {prefix}definitions AS d (
    job_type, schedule_kind, schedule_expression, schedule_timezone, schedule_catch_up,
    schedule_input_json, next_due_at
)
VALUES (
    %(job_type)s, %(kind)s::text, %(expression)s::text, %(timezone)s::text, %(catch_up)s::text,
    %(input_json)s::text, %(next_due_at)s::timestamptz
)
ON CONFLICT (job_type) DO UPDATE SET
    schedule_kind = EXCLUDED.schedule_kind,
    schedule_expression = EXCLUDED.schedule_expression,
    schedule_timezone = EXCLUDED.schedule_timezone,
    schedule_catch_up = EXCLUDED.schedule_catch_up,
    schedule_input_json = EXCLUDED.schedule_input_json,
    next_due_at = EXCLUDED.next_due_at,
    updated_at = now()
RETURNING {definition_columns}

-- name: due_schedules
SELECT {definition_columns} FROM {prefix}definitions d
WHERE d.enabled
  AND d.schedule_kind IS NOT NULL
  AND (d.next_due_at IS NULL OR d.next_due_at <= {now})
ORDER BY d.job_type COLLATE "C"

-- name: advance_schedule
-- Compare and set: only the scheduler that saw the current next_due_at advances it.
UPDATE {prefix}definitions d
SET next_due_at = %(new_next_due_at)s::timestamptz, updated_at = now()
WHERE d.job_type = %(job_type)s
  AND d.next_due_at IS NOT DISTINCT FROM %(expected_next_due_at)s::timestamptz
RETURNING d.job_type

-- name: insert_scheduled_runs
-- The unique (job_type, schedule_due_at) index skips due times already enqueued, and the unique
-- key index a run whose key another run holds (no conflict target: either index skips the row).
WITH {new_runs},
inserted AS (
    {insert_new_runs}
    ON CONFLICT DO NOTHING
    RETURNING id, queue, run_at
),
latest AS (
    SELECT n.id, n.schedule_due_at
    FROM new_runs n JOIN inserted i ON i.id = n.id
    ORDER BY n.ord DESC
    LIMIT 1
),
marked AS (
    UPDATE {prefix}definitions d
    SET last_due_at = l.schedule_due_at, last_run_id = l.id
    FROM latest l
    WHERE d.job_type = %(job_type)s
    RETURNING d.job_type
),
woken AS (
    SELECT {notify_due}
    FROM (SELECT 'runs' AS kind, d.queue, {due_in} AS due_in, NULL::bigint AS count,
                 NULL::bigint AS token
          FROM (SELECT queue, min(run_at) AS run_at FROM inserted GROUP BY queue) d) n
)
SELECT n.id, (SELECT count(*) FROM woken) AS woken
FROM new_runs n JOIN inserted i ON i.id = n.id
ORDER BY n.ord

-- ==============================================================================================
-- runs: writing
-- ==============================================================================================

-- name: enqueue_runs
-- One NOTIFY per queue, with the due time of its earliest run.
WITH {new_runs},
inserted AS (
    {insert_new_runs}
    RETURNING id
),
woken AS (
    SELECT {notify_due}
    FROM (SELECT 'runs' AS kind, d.queue, {due_in} AS due_in, d.count, d.token
          FROM (SELECT queue, min(COALESCE(run_at, {now})) AS run_at,
                       count(*) FILTER (WHERE COALESCE(run_at, {now}) <= {now}) AS count,
                       min(id) AS token
                FROM new_runs GROUP BY queue) d) n
)
SELECT n.id, (SELECT count(*) FROM woken) AS woken
FROM new_runs n
ORDER BY n.ord

-- name: enqueue_unique_runs
-- A batch with unique keys (no key repeated in it: the store sends a repeat's first run only).
-- A run whose key a run of its job type holds is not inserted (ON CONFLICT waits for a
-- concurrent inserter of the key to commit or roll back); its row then names the holder. A row
-- with neither (the holder committed after this statement's snapshot, or left its unique
-- states meanwhile) is sent again by the store, in a new statement that sees it.
WITH {new_runs},
inserted AS (
    {insert_new_runs}
    ON CONFLICT (job_type, unique_key) WHERE {unique_holder} DO NOTHING
    RETURNING id, queue
),
woken AS (
    SELECT {notify}
    FROM (SELECT DISTINCT 'runs' AS kind, NULL::bigint AS run_id, queue FROM inserted) n
)
SELECT n.id, i.id IS NOT NULL AS created, h.id AS holder, (SELECT count(*) FROM woken) AS woken
FROM new_runs n
LEFT JOIN inserted i ON i.id = n.id
LEFT JOIN LATERAL (
    SELECT id FROM {prefix}runs
    WHERE job_type = n.job_type AND unique_key = n.unique_key AND {unique_holder}
) h ON i.id IS NULL
ORDER BY n.ord

-- name: reserve_run_ids
-- The bulk path by COPY (store: enqueue of many runs), in one transaction: this draws the ids, in
-- the order given, with the clock every row of the batch uses, and queues the NOTIFY of each
-- queue (delivered at commit, so never before the rows are visible); then copy_runs streams the
-- rows.
SELECT array_agg(nextval(%(runs_seq)s::regclass) ORDER BY g) AS ids,
       {now} AS now,
       (SELECT count({notify_due})
        FROM (SELECT 'runs' AS kind, d.queue, {due_in} AS due_in, d.count, d.token
              FROM unnest(%(queues)s::text[], %(due_ats)s::timestamptz[], %(counts)s::integer[],
                          %(tokens)s::bigint[]) AS d (queue, run_at, count, token)) n)
           AS woken
FROM generate_series(1, %(count)s) AS g

-- name: copy_runs
COPY {prefix}runs ({run_insert_columns}) FROM STDIN

-- name: enqueue_run
-- One run (the common enqueue() call): a plain VALUES insert plans and runs in about a third
-- less time than the unnest/ordinality form above. Its id is the column's default (the same
-- sequence the batch forms draw from), one parameter fewer to send. The NOTIFY is computed in
-- the RETURNING list from the inserted row: a CTE around the insert and another around the
-- notify cost the server about 25 us more per call (a fifth of its time for this statement).
INSERT INTO {prefix}runs AS d ({run_insert_columns})
VALUES (
    DEFAULT, %(job_type)s::text, %(queue)s::text,
    %(priority)s::integer, %(input)s::jsonb,
    COALESCE(%(run_at)s::timestamptz, %(now)s::timestamptz, now()),
    {now},
    %(due_at)s::timestamptz, %(max_attempts)s::integer, %(trace_context)s::text,
    NULL, NULL
)
RETURNING d.id, {notify_shard} AS woken

-- name: enqueue_child
-- One run enqueued after parents (workflows). "touched" bumps each parent's child_stamp: the row
-- lock orders this enqueue with the parent's end. If the parent ended first, this sees its final
-- status (the UPDATE re-reads the row it waited for) and counts it; if this came first, the
-- ending statement sees the bump and starts over with a snapshot holding this run
-- (release_guard). An unknown parent fails the statement ("missing"), so nothing is written. The
-- run starts cancelled (a parent failed or was cancelled, policy 'cancel'), pending (every parent
-- is final) or waiting.
WITH touched AS (
    UPDATE {prefix}runs p
    SET child_stamp = p.child_stamp + 1
    WHERE p.id = ANY (%(parents)s::bigint[])
    RETURNING p.id, p.status
),
missing AS MATERIALIZED (
    SELECT ('zapjobs-unknown-parent ' || x.id)::integer AS g
    FROM unnest(%(parents)s::bigint[]) AS x (id)
    WHERE NOT EXISTS (SELECT 1 FROM touched t WHERE t.id = x.id)
),
state AS (
    SELECT count(*) FILTER (WHERE t.status NOT IN ('succeeded', 'failed', 'cancelled')) AS open,
           min(t.id) FILTER (WHERE t.status IN ('failed', 'cancelled')) AS bad
    FROM touched t
),
inserted AS (
    INSERT INTO {prefix}runs (
        {run_insert_columns}, status, parents_left, on_parent_failure, cancelled_by, finished_at,
        input_from
    )
    SELECT nextval(%(runs_seq)s::regclass), %(job_type)s::text, %(queue)s::text,
           %(priority)s::integer, %(input)s::jsonb,
           COALESCE(%(run_at)s::timestamptz, %(now)s::timestamptz, now()),
           {now},
           NULL, %(max_attempts)s::integer, %(trace_context)s::text, NULL, NULL,
           CASE WHEN s.bad IS NOT NULL AND %(policy)s::text = 'cancel' THEN 'cancelled'
                WHEN s.open = 0 THEN 'pending'
                ELSE 'waiting' END,
           s.open, %(policy)s::text,
           CASE WHEN %(policy)s::text = 'cancel' THEN s.bad END,
           CASE WHEN s.bad IS NOT NULL AND %(policy)s::text = 'cancel' THEN {now} END,
           %(input_from)s::text
    FROM state s
    WHERE (SELECT sum(m.g) FROM missing m) IS NULL
    RETURNING id, status, queue, job_type, run_at
),
edges AS (
    INSERT INTO {prefix}run_parents (run_id, parent_id, done)
    SELECT i.id, t.id, t.status IN ('succeeded', 'failed', 'cancelled')
    FROM inserted i CROSS JOIN touched t
),
deltas AS (SELECT queue, job_type, status, 1 AS delta FROM inserted),
{count_finished},
woken AS (
    SELECT {notify_due}
    FROM (SELECT 'runs' AS kind, d.queue, {due_in} AS due_in, 1 AS count, d.id AS token
          FROM (SELECT i.queue, i.run_at, i.id FROM inserted i
                WHERE i.status = 'pending') d) n
)
SELECT i.id, i.status, (SELECT count(*) FROM woken) AS woken FROM inserted i

-- fragment: claim_unlimited
-- The unlimited claim after its flow_applying (claim_runs; claim_granted under a grant): the
-- scan of each queue, the claim of the picked runs and the claim's asynchronous commit.
picked AS (
    SELECT c.id, c.ctid,
           row_number() OVER (ORDER BY q.ord, c.priority DESC, c.run_at, c.id) AS rank
    FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q (name, ord)
    CROSS JOIN LATERAL (
        SELECT r.id, r.ctid, r.priority, r.run_at
        FROM {prefix}runs r
        WHERE r.status = 'pending'
          AND r.queue = q.name
          AND r.run_at <= {now}
          AND r.job_type = ANY (%(job_types)s::text[])
          -- A paused queue (migration 0008) is skipped: one primary-key probe per queue that
          -- gates its scan, read at each claim, so a pause holds from the next claim on.
          AND NOT EXISTS (
              SELECT 1 FROM {prefix}queues p WHERE p.name = q.name AND p.paused
          )
        ORDER BY r.priority DESC, r.run_at, r.id
        LIMIT %(limit)s
        FOR UPDATE OF r SKIP LOCKED
    ) c
    WHERE NOT (SELECT f.limited FROM flow_applying f)
    ORDER BY rank
    LIMIT %(limit)s
),
claimed AS (
    UPDATE {prefix}runs r
    SET status = 'running',
        attempt = r.attempt + 1,
        started_at = {now},
        finished_at = NULL,
        worker_id = %(worker_id)s,
        cancel_requested = false
    FROM picked p
    WHERE r.ctid = p.ctid
    RETURNING {run_columns}, p.rank
),
-- The claim's commit does not wait for the WAL flush (about half its round trip). A claim lost
-- in a server crash leaves its run pending, to run again: at least once, like a rescue. The
-- completion commits synchronously, which flushes every earlier claim with it.
async_commit AS (
    SELECT set_config('synchronous_commit', 'off', true) AS setting
)

-- name: claim_runs
-- Per queue (in the caller's order) one LATERAL scan of the partial claim index, locking with
-- SKIP LOCKED so concurrent claimers neither wait nor take the same run. Prepared with a generic
-- plan (sql.PREPARED), which cannot know how few rows the LIMIT leaves: the update finds the
-- locked rows by ctid (a TID scan per row), so no plan joins them against a scan of the table.
-- The unlimited path: when a concurrency cap or rate limit (migration 0010) applies to one of the
-- job types or queues, it claims nothing and says so ("limited"), and the store runs
-- claim_limited instead. One probe of the (usually empty) limits table, once per claim.
WITH {flow_applying},
{claim_unlimited}
-- One row at least: the claimed runs with the flag, or the flag alone (a NULL id).
SELECT c.*, f.limited, {claimed_parent_outputs}
FROM flow_applying f CROSS JOIN async_commit
LEFT JOIN claimed c ON true
ORDER BY c.rank

-- name: claim_granted
-- The claim of a worker holding a grant (migration 0013) for every limit of its claim: the
-- unlimited claim's scan and update, with no write to the limits rows. The grant holds while it
-- exists (its limit unchanged), its rate window lasts ("valid_before") and its worker is live;
-- its "slots" bound the worker's running runs (all of them: runs of other job types and queues
-- only make the count higher), counted here. Otherwise ("limited": the grant does not cover
-- this claim) it claims nothing and the store runs claim_limited. A claim that comes back short
-- (no more work) gives the grant up, so an idle worker holds no share of a cap.
WITH grant_held AS (
    SELECT count(*) > 0 AS limited,
           count(*) > 0
           AND bool_and(g.worker_id IS NOT NULL
                        AND (g.valid_before IS NULL OR g.valid_before > {now}))
           AND {claimer_live} AS held,
           min(g.slots) AS slots
    FROM {prefix}flow_limits l
    LEFT JOIN {prefix}flow_grants g
           ON g.worker_id = %(worker_id)s AND g.scope = l.scope AND g.name = l.name
    WHERE {flow_of_claim} AND {flow_limited}
),
flow_applying AS (
    SELECT NOT (h.held AND (h.slots IS NULL OR %(limit)s::bigint + (
               SELECT count(*) FROM (
                   SELECT 1 FROM {prefix}runs r
                   WHERE r.status = 'running' AND r.worker_id = %(worker_id)s
                   LIMIT h.slots
               ) o
           ) <= h.slots)) AS limited
    FROM grant_held h
),
{claim_unlimited},
released AS (
    DELETE FROM {prefix}flow_grants g
    WHERE g.worker_id = %(worker_id)s
      AND NOT (SELECT f.limited FROM flow_applying f)
      AND (SELECT count(*) FROM claimed) < %(limit)s::bigint
    RETURNING 1
)
SELECT c.*, h.limited, NOT f.limited AS granted, {claimed_parent_outputs}
FROM grant_held h CROSS JOIN flow_applying f CROSS JOIN async_commit
LEFT JOIN claimed c ON true
ORDER BY c.rank

-- name: wake
-- Every listening worker of the queue looks for due runs (a targeted wake-up passed on).
SELECT {notify} AS sent
FROM (SELECT 'runs' AS kind, NULL::bigint AS run_id, %(queue)s::text AS queue) n

-- name: next_due
-- Seconds until the earliest pending run of the queues and job types becomes due (zero or less:
-- due already; NULL: none). The claim index leads with (queue, priority DESC): a loose index scan
-- steps from one priority to the next (one index descent each, few priorities in practice), and
-- per priority the first entry in run_at order is the earliest, so neither a due backlog nor
-- finished runs are read. "limited": a cap or rate limit applies to the queues or job types (the
-- store then asks next_due_limited, which leaves out those with no start left). "ids", "queues",
-- "due_ins": the earliest runs (run_at, then id), as many as the caller asks ("runs", that many
-- index entries per priority): the workers rank their ids to agree who claims each when due.
WITH RECURSIVE {flow_applying},
priorities AS (
    SELECT q.name AS queue,
           (SELECT r.priority FROM {prefix}runs r
            WHERE r.status = 'pending' AND r.queue = q.name
            ORDER BY r.priority DESC LIMIT 1) AS priority
    FROM unnest(%(queues)s::text[]) AS q (name)
    -- a paused queue's runs cannot be claimed: no timer for them (resuming notifies instead)
    WHERE NOT EXISTS (SELECT 1 FROM {prefix}queues p WHERE p.name = q.name AND p.paused)
    UNION ALL
    SELECT p.queue,
           (SELECT r.priority FROM {prefix}runs r
            WHERE r.status = 'pending' AND r.queue = p.queue AND r.priority < p.priority
            ORDER BY r.priority DESC LIMIT 1)
    FROM priorities p
    WHERE p.priority IS NOT NULL
),
earliest AS (
    SELECT e.id, p.queue, e.run_at
    FROM priorities p
    CROSS JOIN LATERAL (
        SELECT r.id, r.run_at FROM {prefix}runs r
        WHERE r.status = 'pending'
          AND r.queue = p.queue
          AND r.priority = p.priority
          AND r.job_type = ANY (%(job_types)s::text[])
        ORDER BY r.priority DESC, r.run_at, r.id
        LIMIT %(runs)s
    ) e
    WHERE p.priority IS NOT NULL
    ORDER BY e.run_at, e.id
    LIMIT %(runs)s
)
SELECT (SELECT EXTRACT(EPOCH FROM min(e.run_at) - {now})::float8 FROM earliest e) AS due_in,
       (SELECT f.limited FROM flow_applying f) AS limited,
       ARRAY(SELECT e.id FROM earliest e ORDER BY e.run_at, e.id) AS ids,
       ARRAY(SELECT e.queue FROM earliest e ORDER BY e.run_at, e.id) AS queues,
       ARRAY(SELECT EXTRACT(EPOCH FROM e.run_at - {now})::float8 FROM earliest e
             ORDER BY e.run_at, e.id) AS due_ins

-- fragment: stamp_raced
-- In a RETURNING of runs r: an enqueue of a child of r committed after this statement's snapshot
-- (it bumped r's child_stamp; the UPDATE waited for it and returns the newest row, the subquery
-- reads the snapshot), so the child's edge is not in the snapshot (release_guard). A run that
-- never had a child (child_stamp 0, the common case) skips the read.
CASE WHEN r.child_stamp = 0 THEN false
     ELSE (SELECT x.child_stamp FROM {prefix}runs x WHERE x.id = r.id) <> r.child_stamp END
AS raced, r.child_stamp > 0 AS has_children

-- fragment: release_guard
-- A statement that ended a run whose child was enqueued after its snapshot (ended.raced) fails
-- whole with this marker, and the store runs it again (runs.py: RACE_MARK): the new snapshot
-- sees the child, so its release is in the same transaction as its parent's end. sum() makes the
-- cast run; the id keeps it from being folded at plan time.
guard AS MATERIALIZED (
    SELECT ('zapjobs-workflow-race ' || f.id)::integer AS g FROM ended f WHERE f.raced
)

-- fragment: release_children
-- Workflows: applies the end of the runs of CTE "ended" (id, status, raced: runs this statement
-- made final that ever had a child, see stamp_raced) to the runs waiting for them, in the same
-- statement. "doomed": the waiting runs a
-- failed or cancelled parent cancels (policy 'cancel'), transitively; "dropped" cancels them;
-- "spent" marks each edge of an ended or dropped parent done, once (under the edge's row lock, so
-- two statements never apply one edge); "released" takes those edges off each other waiting
-- child's parents_left under the child's row lock (a concurrent parent's decrement is re-read),
-- and the child whose count reaches 0 is pending, due at its run_at or now: exactly one statement
-- sees that. Needs WITH RECURSIVE.
doomed (id, cause) AS (
    SELECT e.run_id, e.parent_id
    FROM ended f
    JOIN {prefix}run_parents e ON e.parent_id = f.id AND NOT e.done
    JOIN {prefix}runs c ON c.id = e.run_id
    WHERE f.status IN ('failed', 'cancelled')
      AND c.status = 'waiting'
      AND c.on_parent_failure = 'cancel'
    UNION
    SELECT e.run_id, e.parent_id
    FROM doomed d
    JOIN {prefix}run_parents e ON e.parent_id = d.id AND NOT e.done
    JOIN {prefix}runs c ON c.id = e.run_id
    WHERE c.status = 'waiting'
      AND c.on_parent_failure = 'cancel'
),
dropped AS (
    UPDATE {prefix}runs c
    SET status = 'cancelled', finished_at = {now}, cancelled_by = d.cause
    FROM (SELECT id, min(cause) AS cause FROM doomed GROUP BY id) d
    WHERE c.id = d.id
      AND c.status = 'waiting'
    RETURNING c.id, c.queue, c.job_type
),
spent AS (
    UPDATE {prefix}run_parents e
    SET done = true
    FROM (SELECT id FROM ended UNION ALL SELECT id FROM dropped) p
    WHERE e.parent_id = p.id
      AND NOT e.done
    RETURNING e.run_id
),
released AS (
    UPDATE {prefix}runs c
    SET parents_left = c.parents_left - s.n,
        status = CASE WHEN c.parents_left - s.n <= 0 THEN 'pending' ELSE 'waiting' END,
        run_at = CASE WHEN c.parents_left - s.n <= 0
            THEN GREATEST(c.run_at, {now}) ELSE c.run_at END
    FROM (SELECT run_id, count(*) AS n FROM spent GROUP BY run_id) s
    WHERE c.id = s.run_id
      AND c.status = 'waiting'
      AND NOT EXISTS (SELECT 1 FROM doomed d WHERE d.id = c.id)
    RETURNING c.id, c.queue, c.status, c.run_at
)

-- fragment: notify_released
-- {notify_due} for the runs "released" made pending, one per queue (count and token of those due
-- now, as an enqueue's).
pg_notify(%(channel)s,
          json_strip_nulls(json_build_object('k', 'runs', 'q', d.queue, 'd', {due_in},
                                             'n', d.count, 't', d.token))::text)

-- fragment: released_woken
released_woken AS (
    SELECT {notify_released}
    FROM (SELECT queue, min(run_at) AS run_at,
                 count(*) FILTER (WHERE run_at <= {now}) AS count,
                 min(id) FILTER (WHERE run_at <= {now}) AS token
          FROM released
          WHERE status = 'pending' GROUP BY queue) d
)

-- fragment: failed_elsewhere
-- Run c has a parent, other than the runs of "changed" (retried now), that failed or was
-- cancelled on its own (not by a parent of its own): a retry does not re-arm c.
EXISTS (
    SELECT 1 FROM {prefix}run_parents e JOIN {prefix}runs p ON p.id = e.parent_id
    WHERE e.run_id = c.id
      AND (p.status = 'failed' OR (p.status = 'cancelled' AND p.cancelled_by IS NULL))
      AND p.id NOT IN (SELECT id FROM changed)
)

-- fragment: rearm_children
-- Workflows, retry: the runs that the retried runs of "changed" cancelled (cancelled_by), and the
-- ones those cancelled, transitively ("rearm"), wait again ("armed"), for every parent that is
-- not final or is waiting again; edges from a run that is unfinished again to a run that waits
-- (again) are not done any more ("reopened"), and a run that was still waiting waits for such a
-- parent again ("rewaited"). A dependent that another parent failed stays cancelled.
rearm (id) AS (
    SELECT c.id FROM {prefix}runs c
    WHERE c.cancelled_by IN (SELECT id FROM changed)
      AND c.status = 'cancelled'
      AND NOT {failed_elsewhere}
    UNION
    SELECT c.id FROM rearm a JOIN {prefix}runs c ON c.cancelled_by = a.id
    WHERE c.status = 'cancelled'
      AND NOT {failed_elsewhere}
),
reopened AS (
    UPDATE {prefix}run_parents e
    SET done = false
    FROM {prefix}runs c
    WHERE e.done
      AND e.parent_id IN (SELECT id FROM changed UNION ALL SELECT id FROM rearm)
      AND c.id = e.run_id
      AND (c.status = 'waiting' OR c.id IN (SELECT id FROM rearm))
    RETURNING e.run_id
),
armed AS (
    UPDATE {prefix}runs c
    SET status = 'waiting',
        finished_at = NULL,
        cancelled_by = NULL,
        parents_left = (
            SELECT count(*) FROM {prefix}run_parents e JOIN {prefix}runs p ON p.id = e.parent_id
            WHERE e.run_id = c.id
              AND (p.status NOT IN ('succeeded', 'failed', 'cancelled')
                   OR p.id IN (SELECT id FROM changed UNION ALL SELECT id FROM rearm))
        )
    WHERE c.id IN (SELECT id FROM rearm)
      AND c.status = 'cancelled'
    RETURNING c.id, c.queue, c.job_type
),
rewaited AS (
    UPDATE {prefix}runs c
    SET parents_left = c.parents_left + x.n
    FROM (SELECT run_id, count(*) AS n FROM reopened GROUP BY run_id) x
    WHERE c.id = x.run_id
      AND c.status = 'waiting'
      AND c.id NOT IN (SELECT id FROM rearm)
    RETURNING c.id
)

-- fragment: count_finished
-- Keeps the counts of finished runs (migration 0005) in the writing statement: the deltas of the
-- CTE "deltas" (queue, job_type, status, delta), one grouped upsert per statement, on the stripe
-- of this connection (its backend pid modulo 64), so concurrent completers rarely wait on one row
-- until the other commits; rows in key order, so two of the same stripe cannot deadlock.
counted AS (
    INSERT INTO {prefix}run_counts AS c (queue, job_type, status, stripe, n)
    SELECT d.queue, d.job_type, d.status, mod(pg_backend_pid(), 64), sum(d.delta)
    FROM deltas d
    WHERE d.status IN ('succeeded', 'failed', 'cancelled')
    GROUP BY d.queue, d.job_type, d.status
    HAVING sum(d.delta) <> 0
    ORDER BY d.queue, d.job_type, d.status
    ON CONFLICT (queue, job_type, status, stripe) DO UPDATE SET n = c.n + excluded.n
)

-- name: complete_runs
-- Applied only while the run is still running under the same worker and attempt.
WITH RECURSIVE outcome AS (
    SELECT *
    FROM unnest(
        %(ids)b::bigint[], %(worker_ids)b::text[], %(attempts)b::integer[], %(statuses)b::text[],
        %(outputs)b::text[], %(error_types)b::text[], %(error_messages)b::text[],
        %(error_tracebacks)b::text[], %(retry_delays)b::interval[], %(snoozed)b::boolean[]
    ) WITH ORDINALITY AS o (id, worker_id, attempt, status, output, error_type, error_message,
                             error_traceback, retry_delay, snoozed, ord)
),
changed AS (
    UPDATE {prefix}runs r
    SET status = o.status,
        output = COALESCE(o.output::jsonb, r.output),
        error_type = COALESCE(o.error_type, r.error_type),
        error_message = CASE WHEN o.error_type IS NULL
            THEN r.error_message ELSE o.error_message END,
        error_traceback = CASE WHEN o.error_type IS NULL
            THEN r.error_traceback ELSE o.error_traceback END,
        finished_at = CASE WHEN o.status = 'pending'
            THEN NULL ELSE {now} END,
        run_at = CASE WHEN o.status = 'pending'
            THEN {now} + COALESCE(o.retry_delay, interval '0')
            ELSE r.run_at END,
        worker_id = CASE WHEN o.status = 'pending' THEN NULL ELSE r.worker_id END,
        -- A snooze gives the attempt back (the claim counted it) and is counted on its own.
        attempt = CASE WHEN o.snoozed THEN r.attempt - 1 ELSE r.attempt END,
        snoozes = r.snoozes + CASE WHEN o.snoozed THEN 1 ELSE 0 END
    FROM outcome o
    WHERE r.id = o.id
      AND r.status = 'running'
      AND r.worker_id = o.worker_id
      AND r.attempt = o.attempt
    RETURNING r.id, o.ord, r.status, r.queue, r.job_type, r.run_at, {stamp_raced}
),
ended AS (
    SELECT id, status, raced FROM changed
    WHERE has_children AND status IN ('succeeded', 'failed', 'cancelled')
),
{release_guard},
{release_children},
{released_woken},
deltas AS (
    SELECT queue, job_type, status, 1 AS delta FROM changed
    UNION ALL
    SELECT queue, job_type, 'cancelled', 1 FROM dropped
),
{count_finished},
-- A retry wakes the queue's workers with its due time, as an enqueue does: one of them when due
-- now (count and token), every one's timer when due later.
woken AS (
    SELECT {notify_due}
    FROM (SELECT 'runs' AS kind, d.queue, {due_in} AS due_in, d.count, d.token
          FROM (SELECT queue, min(run_at) AS run_at,
                       count(*) FILTER (WHERE run_at <= {now}) AS count,
                       min(id) FILTER (WHERE run_at <= {now}) AS token
                FROM changed WHERE status = 'pending' GROUP BY queue) d) n
)
SELECT c.id, (SELECT count(*) FROM woken) AS woken,
       (SELECT count(*) FROM released_woken) AS released, (SELECT sum(g) FROM guard) AS guard
FROM changed c ORDER BY c.ord

-- fragment: succeed_runs
-- The UPDATE of complete_childless and complete_succeeded: a batch of successes of one worker
-- (three arrays to send instead of complete_runs' nine; errors of earlier attempts are kept, as
-- there), applied only while the run is still running under that worker and attempt. "IS NOT
-- DISTINCT FROM" (the same here: neither value is NULL) is no index condition and proves no
-- partial index's predicate, so even a generic plan, which cannot tell how many ids come, finds
-- the runs by id: one with "worker_id = $n" or "status = 'running'" walked the running index, the
-- entries of the runs finished since the last vacuum included (a drain of 20,000 runs fell from
-- 12,000 to 4,000 jobs/s).
UPDATE {prefix}runs r
SET status = 'succeeded',
    output = COALESCE(o.output::jsonb, r.output),
    finished_at = {now}
FROM unnest(%(ids)b::bigint[], %(attempts)b::integer[], %(outputs)b::text[])
    WITH ORDINALITY AS o (id, attempt, output, ord)
WHERE r.id = o.id
  AND r.status IS NOT DISTINCT FROM 'running'
  AND r.worker_id IS NOT DISTINCT FROM %(worker_id)s::text
  AND r.attempt = o.attempt

-- name: complete_childless
-- The completer's usual batch: successes of runs that never had a child (child_stamp 0), so no
-- workflow release; it returns the ids it ended, and the store sends the others (runs with
-- children, or no longer running) to complete_succeeded. A hot statement (sql.PREPARED, in a
-- lane of its own): the server planned complete_succeeded at every batch, more of its CPU than
-- running it, and the generic plan of its release seq-scans run_parents. Prepared on the general
-- pool, it ran its first five calls per connection on custom plans, which on a table without
-- statistics read the whole table and joined it to the ids in a nested loop (up to 146 ms for
-- one batch of a 20,000-run drain). A child enqueued meanwhile bumps its parent's child_stamp
-- under the row lock: this UPDATE waits for it and re-checks the newest row (READ COMMITTED),
-- so it leaves that parent to complete_succeeded.
WITH changed AS (
    {succeed_runs}
      AND r.child_stamp = 0
    RETURNING r.id, o.ord, r.queue, r.job_type
),
deltas AS (SELECT queue, job_type, 'succeeded' AS status, 1 AS delta FROM changed),
{count_finished}
SELECT id FROM changed ORDER BY ord

-- name: complete_succeeded
-- complete_runs for a batch of successes of one worker that complete_childless left: runs with
-- children (released here) or no longer running (left alone).
WITH RECURSIVE changed AS (
    {succeed_runs}
    RETURNING r.id, o.ord, r.queue, r.job_type, {stamp_raced}
),
ended AS (SELECT id, 'succeeded' AS status, raced FROM changed WHERE has_children),
{release_guard},
{release_children},
{released_woken},
deltas AS (
    SELECT queue, job_type, 'succeeded' AS status, 1 AS delta FROM changed
    UNION ALL
    SELECT queue, job_type, 'cancelled', 1 FROM dropped
),
{count_finished}
SELECT id, (SELECT count(*) FROM released_woken) AS released,
       (SELECT sum(g) FROM guard) AS guard
FROM changed ORDER BY ord

-- name: save_progress
UPDATE {prefix}runs r
SET progress_total = u.total,
    progress_processed = u.processed,
    progress_succeeded = u.succeeded,
    progress_failed = u.failed
FROM unnest(
    %(ids)b::bigint[], %(totals)b::bigint[], %(processed)b::bigint[], %(succeeded)b::bigint[],
    %(failed)b::bigint[]
) AS u (id, total, processed, succeeded, failed)
WHERE r.id = u.id

-- name: append_logs
-- Entries of runs deleted meanwhile are dropped (the key-share lock keeps the check honest).
INSERT INTO {prefix}logs (run_id, level, message, logged_at, fields, attempt)
SELECT e.run_id, e.level, e.message, e.logged_at, e.fields::jsonb, e.attempt
FROM unnest(
    %(run_ids)b::bigint[], %(levels)b::smallint[], %(messages)b::text[],
    %(logged_ats)b::timestamptz[], %(fields)b::text[], %(attempts)b::integer[]
) WITH ORDINALITY AS e (run_id, level, message, logged_at, fields, attempt, ord)
WHERE EXISTS (
    SELECT 1 FROM {prefix}runs r WHERE r.id = e.run_id FOR KEY SHARE
)
ORDER BY e.ord

-- ==============================================================================================
-- runs: operator actions and reading
-- ==============================================================================================

-- fragment: run_filter
-- A RunFilter as typed parameters over the alias r; a NULL parameter does not narrow.
-- A single status/job type/queue comes as a scalar, not an array: "= ANY" cannot walk the
-- (x, id) index in id order. The first such one (d_status, else d_job_type, else d_queue) is
-- the drive: written as a range, not "=", so it stays a sort key of list_runs' ORDER BY and the
-- planner must walk its (x, id) index instead of filtering a backward primary key scan.
(%(f_ids)s::bigint[] IS NULL OR r.id = ANY (%(f_ids)s::bigint[]))
AND (%(f_status)s::text IS NULL OR r.status = %(f_status)s::text)
AND (%(d_status)s::text IS NULL
     OR (r.status >= %(d_status)s::text AND r.status <= %(d_status)s::text))
AND (%(f_statuses)s::text[] IS NULL OR r.status = ANY (%(f_statuses)s::text[]))
AND (%(f_job_type)s::text IS NULL OR r.job_type = %(f_job_type)s::text)
AND (%(d_job_type)s::text IS NULL
     OR (r.job_type >= %(d_job_type)s::text AND r.job_type <= %(d_job_type)s::text))
AND (%(f_job_types)s::text[] IS NULL OR r.job_type = ANY (%(f_job_types)s::text[]))
AND (%(f_queue)s::text IS NULL OR r.queue = %(f_queue)s::text)
AND (%(d_queue)s::text IS NULL
     OR (r.queue >= %(d_queue)s::text AND r.queue <= %(d_queue)s::text))
AND (%(f_queues)s::text[] IS NULL OR r.queue = ANY (%(f_queues)s::text[]))
AND (%(f_created_after)s::timestamptz IS NULL
     OR r.created_at >= %(f_created_after)s::timestamptz)
AND (%(f_created_before)s::timestamptz IS NULL
     OR r.created_at < %(f_created_before)s::timestamptz)
AND (%(f_worker_ids)s::text[] IS NULL OR r.worker_id = ANY (%(f_worker_ids)s::text[]))
AND (%(f_finished_after)s::timestamptz IS NULL
     OR r.finished_at >= %(f_finished_after)s::timestamptz)
AND (%(f_finished_before)s::timestamptz IS NULL
     OR r.finished_at < %(f_finished_before)s::timestamptz)
-- The free-text search looks at the newest f_search_window runs only (an id range the primary
-- key or the drive index bounds), so a search that matches nothing stops there instead of
-- reading the whole history at every refresh.
AND (%(f_search)s::text IS NULL
     OR (r.id > (SELECT COALESCE(max(m.id), 0) FROM {prefix}runs m)
                - %(f_search_window)s::bigint
         AND (strpos(lower(r.job_type), lower(%(f_search)s::text)) > 0
              OR strpos(lower(COALESCE(r.error_type, '')), lower(%(f_search)s::text)) > 0
              OR strpos(lower(COALESCE(r.error_message, '')), lower(%(f_search)s::text)) > 0
              OR strpos(lower(r.input::text), lower(%(f_search)s::text)) > 0)))
AND (%(f_scheduled)s::boolean IS NULL
     OR (r.status = 'pending' AND r.run_at > COALESCE(%(f_now)s::timestamptz, now()))
        = %(f_scheduled)s::boolean)

-- name: retry_runs
-- "target" locks the runs first so the status they leave (failed or cancelled) is known. The
-- runs they cancelled wait for them again ({rearm_children}). Of target runs sharing a unique
-- key, only the newest is retried: both would hold the key.
WITH RECURSIVE target AS (
    SELECT r.id, r.status, r.job_type, r.unique_key FROM {prefix}runs r
    WHERE {run_filter}
      AND r.status IN ('failed', 'cancelled')
    FOR UPDATE OF r
),
changed AS (
    UPDATE {prefix}runs r
    SET status = 'pending',
        run_at = {now},
        attempt = 0,
        finished_at = NULL,
        worker_id = NULL,
        cancel_requested = false,
        cancelled_by = NULL
    FROM target t
    WHERE r.id = t.id
      AND r.status IN ('failed', 'cancelled')
      AND {not_held_by_another}
      AND NOT EXISTS (
          SELECT 1 FROM target n
          WHERE n.job_type = t.job_type AND n.unique_key = t.unique_key AND n.id > t.id
      )
    RETURNING r.id, r.queue, r.job_type, t.status AS left_status
),
{rearm_children},
deltas AS (
    SELECT queue, job_type, left_status AS status, -1 AS delta FROM changed
    UNION ALL
    SELECT queue, job_type, 'cancelled', -1 FROM armed
),
{count_finished},
-- The retried runs are due now: as many workers as runs claim (count and token).
woken AS (
    SELECT {notify_due}
    FROM (SELECT 'runs' AS kind, queue, NULL::float8 AS due_in, count(*) AS count,
                 min(id) AS token
          FROM changed GROUP BY queue) n
)
SELECT c.id, (SELECT count(*) FROM woken) AS woken FROM changed c ORDER BY c.id

-- name: cancel_runs
-- Pending and waiting runs end at once (and the runs waiting for them follow their policies);
-- running ones get a request and their worker a NOTIFY.
WITH RECURSIVE changed AS (
    UPDATE {prefix}runs r
    SET status = CASE WHEN r.status IN ('pending', 'waiting') THEN 'cancelled' ELSE r.status END,
        finished_at = CASE WHEN r.status IN ('pending', 'waiting')
            THEN {now} ELSE r.finished_at END,
        cancel_requested = r.cancel_requested OR r.status = 'running'
    WHERE {run_filter}
      AND (r.status IN ('pending', 'waiting')
           OR (r.status = 'running' AND NOT r.cancel_requested))
    RETURNING r.id, r.queue, r.job_type, r.status, {stamp_raced}
),
ended AS (SELECT id, status, raced FROM changed WHERE has_children AND status = 'cancelled'),
{release_guard},
{release_children},
{released_woken},
deltas AS (
    SELECT queue, job_type, status, 1 AS delta FROM changed
    UNION ALL
    SELECT queue, job_type, 'cancelled', 1 FROM dropped
),
{count_finished},
woken AS (
    SELECT {notify}
    FROM (SELECT 'cancel' AS kind, c.id AS run_id, c.queue FROM changed c
          WHERE c.status = 'running') n
)
SELECT c.id, c.status, (SELECT count(*) FROM woken) AS woken,
       (SELECT count(*) FROM released_woken) AS released, (SELECT sum(g) FROM guard) AS guard
FROM changed c ORDER BY c.id

-- name: delete_runs
WITH deleted AS (
    DELETE FROM {prefix}runs r
    WHERE {run_filter}
      AND r.status <> 'running'
      AND NOT {needed_by_a_child}
    RETURNING r.id, r.queue, r.job_type, r.status
),
deltas AS (SELECT queue, job_type, status, -1 AS delta FROM deleted),
{count_finished}
SELECT id FROM deleted ORDER BY id

-- name: cancel_requested
SELECT r.id FROM {prefix}runs r
WHERE r.status = 'running' AND r.worker_id = %(worker_id)s AND r.cancel_requested
ORDER BY r.id

-- name: run_links
-- Workflows: every edge to or from the runs, by (child, parent).
SELECT e.run_id, e.parent_id FROM {prefix}run_parents e
WHERE e.run_id = ANY (%(ids)s::bigint[])
UNION
SELECT e.run_id, e.parent_id FROM {prefix}run_parents e
WHERE e.parent_id = ANY (%(ids)s::bigint[])
ORDER BY 1, 2

-- name: run_link_page
-- Workflows, for a screen: the first parents and children of one run by id (the primary key
-- for its parents, run_parents_parent_idx for its children: a top-N of that run's edges only)
-- and how many it has of each; one row even without edges (the counts), LEFT JOINed to them.
WITH parents AS (
    SELECT e.parent_id AS id, 'parent' AS side FROM {prefix}run_parents e
    WHERE e.run_id = %(id)s
    ORDER BY e.parent_id
    LIMIT %(limit)s
), children AS (
    SELECT e.run_id AS id, 'child' AS side FROM {prefix}run_parents e
    WHERE e.parent_id = %(id)s
    ORDER BY e.run_id
    LIMIT %(limit)s
)
SELECT n.parents, n.children, l.id, l.side
FROM (SELECT (SELECT count(*) FROM {prefix}run_parents WHERE run_id = %(id)s) AS parents,
             (SELECT count(*) FROM {prefix}run_parents WHERE parent_id = %(id)s) AS children) n
LEFT JOIN (SELECT id, side FROM parents UNION ALL SELECT id, side FROM children) l ON true
ORDER BY l.side, l.id

-- name: parent_outputs
-- Workflows: the outputs of the parents of the steps a claim took, one statement for them all
-- (the claim returns them already, claimed_parent_outputs; this is for the other callers). Edges
-- by primary key, parents by id; a parent deleted since has no row.
SELECT e.run_id, e.parent_id, r.output
FROM {prefix}run_parents e
JOIN {prefix}runs r ON r.id = e.parent_id
WHERE e.run_id = ANY (%(ids)s::bigint[])
ORDER BY e.run_id, e.parent_id

-- name: get_runs
SELECT {run_columns} FROM {prefix}runs r WHERE r.id = ANY (%(ids)s::bigint[]) ORDER BY r.id

-- name: latest_runs
-- The newest run of each job type: per type, the last entry of the (job_type, id) index, which
-- leaves running runs out (migration 0002), against the newest running one of that type (few).
-- The job type is a range and a sort key (as in run_filter's drive), so the planner must walk
-- that index: a backward primary key scan would read the whole history for a type that has not
-- run for long, or never.
SELECT {run_columns}
FROM unnest(%(job_types)s::text[]) AS t (job_type)
CROSS JOIN LATERAL (
    SELECT x.id FROM (
        (SELECT o.id FROM {prefix}runs o
         WHERE o.job_type >= t.job_type AND o.job_type <= t.job_type
           AND o.status <> 'running'
         ORDER BY o.job_type DESC, o.id DESC LIMIT 1)
        UNION ALL
        (SELECT w.id FROM {prefix}runs w
         WHERE w.job_type = t.job_type AND w.status = 'running'
         ORDER BY w.id DESC LIMIT 1)
    ) x
    ORDER BY x.id DESC
    LIMIT 1
) newest
JOIN {prefix}runs r ON r.id = newest.id
ORDER BY r.job_type

-- name: latest_failures
-- The failures that finished last: a backward walk of the failed runs' finish-time index
-- (migration 0005), then those few ordered by id where they share a finish time (an id in the
-- index's order would make the planner read and sort every failure).
SELECT * FROM (
    SELECT {run_columns} FROM {prefix}runs r
    WHERE r.status = 'failed'
    ORDER BY r.finished_at DESC
    LIMIT %(limit)s
) f
ORDER BY f.finished_at DESC, f.id DESC

-- name: list_runs
-- Newest first by id. The (x, id) listing indexes leave running runs out (migration 0002: a
-- claim then writes two index entries, not five), so the runs come from two branches: the
-- others, by a backward scan of the primary key or of an (x, id) index, and the running ones,
-- few, from their own index. A branch the filter rules out (with_others / with_running false)
-- is not planned at all.
SELECT * FROM (
    (SELECT {run_columns} FROM {prefix}runs r
     WHERE {run_filter}
       AND r.status <> 'running'
       AND %(with_others)s::boolean
       AND (%(before_id)s::bigint IS NULL OR r.id < %(before_id)s::bigint)
     -- The drive key is one value, so this is id order; an unset one folds away to id order.
     ORDER BY CASE WHEN %(d_status)s::text IS NULL THEN NULL ELSE r.status END DESC,
              CASE WHEN %(d_job_type)s::text IS NULL THEN NULL ELSE r.job_type END DESC,
              CASE WHEN %(d_queue)s::text IS NULL THEN NULL ELSE r.queue END DESC,
              r.id DESC
     LIMIT %(limit)s)
    UNION ALL
    (SELECT {run_columns} FROM {prefix}runs r
     WHERE {run_filter}
       AND r.status = 'running'
       AND %(with_running)s::boolean
       AND (%(before_id)s::bigint IS NULL OR r.id < %(before_id)s::bigint)
     ORDER BY r.id DESC
     LIMIT %(limit)s)
) runs
ORDER BY id DESC
LIMIT %(limit)s

-- Sorted listings (RunSort, Page.after): each walks an index in its order and stops at the
-- limit; the cursor (c_value, c_id) is the previous page's last run, NULL on the first page.
-- name: list_runs_created_asc
-- Oldest first: a forward walk of the primary key.
SELECT {run_columns} FROM {prefix}runs r
WHERE {run_filter}
  AND (%(c_id)s::bigint IS NULL OR r.id > %(c_id)s::bigint)
ORDER BY r.id
LIMIT %(limit)s

-- name: list_runs_job_desc
-- By job type: the (job_type, id) index (running runs left out, migration 0002) and the
-- running runs, few, from their own index.
SELECT * FROM (
    (SELECT {run_columns} FROM {prefix}runs r
     WHERE {run_filter}
       AND r.status <> 'running'
       AND %(with_others)s::boolean
       AND (%(c_id)s::bigint IS NULL
            OR (r.job_type, r.id) < (%(c_value)s::text, %(c_id)s::bigint))
     ORDER BY r.job_type DESC, r.id DESC
     LIMIT %(limit)s)
    UNION ALL
    (SELECT {run_columns} FROM {prefix}runs r
     WHERE {run_filter}
       AND r.status = 'running'
       AND %(with_running)s::boolean
       AND (%(c_id)s::bigint IS NULL
            OR (r.job_type, r.id) < (%(c_value)s::text, %(c_id)s::bigint))
     ORDER BY r.job_type DESC, r.id DESC
     LIMIT %(limit)s)
) runs
ORDER BY job_type DESC, id DESC
LIMIT %(limit)s

-- name: list_runs_job_asc
SELECT * FROM (
    (SELECT {run_columns} FROM {prefix}runs r
     WHERE {run_filter}
       AND r.status <> 'running'
       AND %(with_others)s::boolean
       AND (%(c_id)s::bigint IS NULL
            OR (r.job_type, r.id) > (%(c_value)s::text, %(c_id)s::bigint))
     ORDER BY r.job_type, r.id
     LIMIT %(limit)s)
    UNION ALL
    (SELECT {run_columns} FROM {prefix}runs r
     WHERE {run_filter}
       AND r.status = 'running'
       AND %(with_running)s::boolean
       AND (%(c_id)s::bigint IS NULL
            OR (r.job_type, r.id) > (%(c_value)s::text, %(c_id)s::bigint))
     ORDER BY r.job_type, r.id
     LIMIT %(limit)s)
) runs
ORDER BY job_type, id
LIMIT %(limit)s

-- name: list_runs_finished_desc
-- By finish time: the finish-time index (migration 0001), ties by id. "<=" bounds the walk
-- (the index holds no id); the row comparison then drops the runs already listed.
SELECT {run_columns} FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NOT NULL
  AND (%(c_id)s::bigint IS NULL
       OR (r.finished_at <= %(c_value)s::timestamptz
           AND (r.finished_at, r.id) < (%(c_value)s::timestamptz, %(c_id)s::bigint)))
ORDER BY r.finished_at DESC, r.id DESC
LIMIT %(limit)s

-- name: list_runs_finished_asc
SELECT {run_columns} FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NOT NULL
  AND (%(c_id)s::bigint IS NULL
       OR (r.finished_at >= %(c_value)s::timestamptz
           AND (r.finished_at, r.id) > (%(c_value)s::timestamptz, %(c_id)s::bigint)))
ORDER BY r.finished_at, r.id
LIMIT %(limit)s

-- name: list_runs_unfinished_desc
-- After the finished runs: the ones without a finish time, by id (a walk of the primary key;
-- read only once the finished runs are all listed).
SELECT {run_columns} FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NULL
  AND (%(c_id)s::bigint IS NULL OR r.id < %(c_id)s::bigint)
ORDER BY r.id DESC
LIMIT %(limit)s

-- name: list_runs_unfinished_asc
SELECT {run_columns} FROM {prefix}runs r
WHERE {run_filter}
  AND r.finished_at IS NULL
  AND (%(c_id)s::bigint IS NULL OR r.id > %(c_id)s::bigint)
ORDER BY r.id
LIMIT %(limit)s

-- name: count_runs
SELECT (SELECT count(*) FROM {prefix}runs r
        WHERE {run_filter} AND r.status <> 'running' AND %(with_others)s::boolean)
     + (SELECT count(*) FROM {prefix}runs r
        WHERE {run_filter} AND r.status = 'running' AND %(with_running)s::boolean) AS n

-- fragment: log_filter
-- One run's entries between the cursors (the (run_id, id) index bounds the walk), at or above a
-- level, containing a text (case-insensitive, in the message or the fields' JSON). The run is
-- written as a range, not "=", so it stays a sort key of the ORDER BY and the planner walks
-- (run_id, id) instead of filtering a backward primary key scan over every run's entries.
l.run_id BETWEEN %(run_id)s AND %(run_id)s
  AND (%(after_id)s::bigint IS NULL OR l.id > %(after_id)s::bigint)
  AND (%(before_id)s::bigint IS NULL OR l.id < %(before_id)s::bigint)
  AND (%(min_level)s::smallint IS NULL OR l.level >= %(min_level)s::smallint)
  AND (%(search)s::text IS NULL
       OR strpos(lower(l.message), lower(%(search)s::text)) > 0
       OR strpos(lower(l.fields::text), lower(%(search)s::text)) > 0)

-- name: list_logs
SELECT {log_columns} FROM {prefix}logs l
WHERE {log_filter}
ORDER BY l.run_id, l.id
LIMIT %(limit)s

-- name: list_logs_newest
-- The run detail's first page and its pages back: the same index walked backwards.
SELECT {log_columns} FROM {prefix}logs l
WHERE {log_filter}
ORDER BY l.run_id DESC, l.id DESC
LIMIT %(limit)s

-- name: count_logs
-- What the run detail does not show: an index-only count over one run's entries (a level makes
-- it read them).
SELECT count(*) AS n FROM {prefix}logs l
WHERE l.run_id = %(run_id)s
  AND (%(min_level)s::smallint IS NULL OR l.level >= %(min_level)s::smallint)

-- name: stats
-- Bounded by the live workload, not the history: pending runs (due now or later) from the
-- partial claim index, running ones from theirs, exact; finished runs from the counts the writing
-- statements keep (count_finished, migration 0005), summed over their stripes, also exact.
-- The pending branch also gives each queue's oldest due time (its lag), from the same rows.
SELECT r.queue,
       CASE WHEN r.run_at > {now} THEN 'scheduled' ELSE 'pending' END AS bucket,
       count(*) AS n,
       min(r.run_at) FILTER (WHERE r.run_at <= {now}) AS oldest_due_at
FROM {prefix}runs r
WHERE r.status = 'pending'
GROUP BY 1, 2
UNION ALL
SELECT r.queue, 'running', count(*), NULL::timestamptz
FROM {prefix}runs r
WHERE r.status = 'running'
GROUP BY 1
UNION ALL
SELECT r.queue, 'waiting', count(*), NULL::timestamptz
FROM {prefix}runs r
WHERE r.status = 'waiting'
GROUP BY 1
UNION ALL
SELECT c.queue, c.status, sum(c.n)::bigint, NULL::timestamptz
FROM {prefix}run_counts c
GROUP BY 1, 2
HAVING sum(c.n) <> 0

-- name: throughput
SELECT date_trunc('minute', r.finished_at, 'UTC') AS minute,
       count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE r.status = 'failed') AS failed
FROM {prefix}runs r
WHERE r.finished_at >= %(since)s::timestamptz
  AND r.finished_at <= {now}
  AND r.status IN ('succeeded', 'failed')
GROUP BY 1
ORDER BY 1

-- name: job_type_stats
-- The Jobs view's recent health per job type: a range of runs_finished_idx (as throughput reads),
-- so its cost follows the runs finished in the window, never the history. A run without a
-- start is counted, not timed (percentile_cont skips NULLs).
SELECT r.job_type,
       count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE r.status = 'failed') AS failed,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM r.finished_at - r.started_at)::float8) AS p50,
       percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM r.finished_at - r.started_at)::float8) AS p95
FROM {prefix}runs r
WHERE r.finished_at >= %(since)s::timestamptz
  AND r.finished_at <= {now}
  AND r.status IN ('succeeded', 'failed')
GROUP BY r.job_type
ORDER BY r.job_type

-- name: run_backlog
-- The metrics exporter's queue depths, read at every scrape: each branch reads only the runs of
-- its partial index (runs_claim_idx: pending, runs_running_idx: running, runs_waiting_idx:
-- waiting), never finished runs.
SELECT r.queue, r.job_type,
       count(*) FILTER (WHERE r.run_at <= {now}) AS pending,
       count(*) FILTER (WHERE r.run_at > {now}) AS scheduled,
       0::bigint AS running,
       min(r.run_at) FILTER (WHERE r.run_at <= {now}) AS oldest_due_at,
       0::bigint AS waiting
FROM {prefix}runs r
WHERE r.status = 'pending'
GROUP BY r.queue, r.job_type
UNION ALL
SELECT r.queue, r.job_type, 0::bigint, 0::bigint, count(*), NULL::timestamptz, 0::bigint
FROM {prefix}runs r
WHERE r.status = 'running'
GROUP BY r.queue, r.job_type
UNION ALL
SELECT r.queue, r.job_type, 0::bigint, 0::bigint, 0::bigint, NULL::timestamptz, count(*)
FROM {prefix}runs r
WHERE r.status = 'waiting'
GROUP BY r.queue, r.job_type

-- name: failures_since
-- Failed runs of a recent window per queue and job type: a range of runs_finished_idx.
SELECT r.queue, r.job_type, count(*) AS n
FROM {prefix}runs r
WHERE r.finished_at >= %(since)s::timestamptz
  AND r.finished_at IS NOT NULL
  AND r.status = 'failed'
GROUP BY r.queue, r.job_type

-- name: error_groups
-- The failures of the window only, from their partial index (migration 0005); the latest
-- message of each group is fetched by id afterwards rather than sorted out of every failure.
SELECT g.error_type, g.n, g.last_run_id, l.error_message AS last_message
FROM (
    SELECT r.error_type, count(*) AS n, max(r.id) AS last_run_id
    FROM {prefix}runs r
    WHERE r.status = 'failed'
      AND r.error_type IS NOT NULL
      AND r.finished_at >= %(since)s::timestamptz
    GROUP BY r.error_type
    ORDER BY n DESC, last_run_id DESC
    LIMIT %(limit)s
) g
JOIN {prefix}runs l ON l.id = g.last_run_id
ORDER BY g.n DESC, g.last_run_id DESC

-- ==============================================================================================
-- workers
-- ==============================================================================================

-- name: heartbeat
-- A returning worker is alive again (dead_at cleared); its start time is kept. was_dead says a
-- rescuer had marked it dead: "prev" locks the row first (FOR UPDATE waits for a rescue in
-- progress and reads its mark), so the mark is either reported here or made after this beat.
WITH prev AS (
    SELECT w.id, w.dead_at FROM {prefix}heartbeats w WHERE w.id = %(id)s FOR UPDATE
),
updated AS (
    UPDATE {prefix}heartbeats w
    SET host = %(host)s,
        pid = %(pid)s,
        queues = %(queues)s::text[],
        last_seen_at = {now},
        running = %(running)s,
        concurrency = %(concurrency)s,
        dead_at = NULL
    FROM prev p
    WHERE w.id = p.id
    RETURNING p.dead_at IS NOT NULL AS was_dead
),
inserted AS (
    INSERT INTO {prefix}heartbeats AS w (
        id, host, pid, queues, started_at, last_seen_at, running, concurrency, stopped_at,
        dead_at
    )
    SELECT %(id)s, %(host)s, %(pid)s, %(queues)s::text[], %(started_at)s::timestamptz,
           {now}, %(running)s, %(concurrency)s,
           %(stopped_at)s::timestamptz, %(dead_at)s::timestamptz
    WHERE NOT EXISTS (SELECT 1 FROM prev)
    ON CONFLICT (id) DO UPDATE SET
        host = EXCLUDED.host,
        pid = EXCLUDED.pid,
        queues = EXCLUDED.queues,
        last_seen_at = EXCLUDED.last_seen_at,
        running = EXCLUDED.running,
        concurrency = EXCLUDED.concurrency,
        dead_at = NULL
    RETURNING false AS was_dead
)
SELECT was_dead FROM updated UNION ALL SELECT was_dead FROM inserted

-- name: worker_stopped
UPDATE {prefix}heartbeats w
SET stopped_at = {now},
    last_seen_at = {now},
    running = 0
WHERE w.id = %(id)s

-- name: list_workers
SELECT {worker_columns} FROM {prefix}heartbeats w ORDER BY w.last_seen_at DESC, w.id COLLATE "C" DESC

-- name: get_worker
SELECT {worker_columns} FROM {prefix}heartbeats w WHERE w.id = %(id)s

-- ==============================================================================================
-- queues
-- ==============================================================================================

-- name: set_queue_paused
-- Resuming wakes the queue's workers (a NOTIFY, as for new runs) so they claim at once.
WITH changed AS (
    INSERT INTO {prefix}queues AS q (name, paused, updated_at)
    VALUES (%(queue)s, %(paused)s, {now})
    ON CONFLICT (name) DO UPDATE SET paused = EXCLUDED.paused, updated_at = EXCLUDED.updated_at
    RETURNING q.name, q.paused
),
woken AS (
    SELECT {notify}
    FROM (SELECT 'runs' AS kind, NULL::bigint AS run_id, c.name AS queue FROM changed c
          WHERE NOT c.paused) n
)
SELECT c.name, (SELECT count(*) FROM woken) AS woken FROM changed c

-- name: queue_states
SELECT q.name, q.paused FROM {prefix}queues q ORDER BY q.name COLLATE "C"

-- name: finished_per_queue
-- Runs finished in a recent window per queue: a range of runs_finished_idx.
SELECT r.queue, count(*) AS n
FROM {prefix}runs r
WHERE r.finished_at >= %(since)s::timestamptz
  AND r.finished_at <= {now}
  AND r.status IN ('succeeded', 'failed')
GROUP BY r.queue

-- ==============================================================================================
-- flow control: concurrency caps and rate limits (migration 0010, zapjobs.core.flow)
-- ==============================================================================================

-- fragment: flow_effective
-- A limits row's effective values (the operator's override wins): cap, rate count and period.
COALESCE(l.max_concurrency_override, l.max_concurrency) AS cap,
CASE WHEN l.rate_count_override IS NOT NULL
     THEN l.rate_count_override ELSE l.rate_count END AS rate_count,
CASE WHEN l.rate_count_override IS NOT NULL
     THEN l.rate_period_override ELSE l.rate_period END AS rate_period

-- fragment: flow_limited
-- A limits row that limits anything (a row whose values are all NULL does not).
(l.max_concurrency IS NOT NULL OR l.max_concurrency_override IS NOT NULL
 OR l.rate_count IS NOT NULL OR l.rate_count_override IS NOT NULL)

-- fragment: flow_of_claim
-- The limits rows of the claim's job types and queues (primary-key probes).
((l.scope = 'job' AND l.name = ANY (%(job_types)s::text[]))
 OR (l.scope = 'queue' AND l.name = ANY (%(queues)s::text[])))

-- fragment: claimed_parent_outputs
-- A claimed workflow step's parents' outputs, [[parent id, output], ...] in id order, so the step
-- starts without a read of its own (one round trip per claim saved); NULL for a run without
-- parents (the edges are not looked at).
CASE WHEN c.parents_left IS NULL THEN NULL ELSE (
    SELECT jsonb_agg(jsonb_build_array(e.parent_id, p.output) ORDER BY e.parent_id)
    FROM {prefix}run_parents e
    JOIN {prefix}runs p ON p.id = e.parent_id
    WHERE e.run_id = c.id
) END AS parent_outputs

-- fragment: flow_applying
-- Whether any limit applies to the claim's job types or queues: primary-key probes of the
-- limits table (usually empty).
flow_applying AS (
    SELECT EXISTS (
               SELECT 1 FROM {prefix}flow_limits l
               WHERE l.scope = 'job' AND l.name = ANY (%(job_types)s::text[]) AND {flow_limited}
           )
           OR EXISTS (
               SELECT 1 FROM {prefix}flow_limits l
               WHERE l.scope = 'queue' AND l.name = ANY (%(queues)s::text[]) AND {flow_limited}
           ) AS limited
)

-- fragment: worker_not_gone
-- A worker row "w" neither stopped nor found dead: its grants (claim_granted) hold.
(w.stopped_at IS NULL AND w.dead_at IS NULL)

-- fragment: claimer_live
-- The claiming worker has a row, neither stopped nor found dead: only such a worker is granted
-- a share, or claims under one.
EXISTS (
    SELECT 1 FROM {prefix}heartbeats w WHERE w.id = %(worker_id)s AND {worker_not_gone}
)

-- fragment: flow_held
-- The slots of the grants (claim_granted) of a limits row "l" that live workers other than the
-- claiming one hold: other claims leave them to their holders.
(SELECT COALESCE(sum(g.slots), 0) FROM {prefix}flow_grants g
 JOIN {prefix}heartbeats w ON w.id = g.worker_id
 WHERE g.scope = l.scope AND g.name = l.name
   AND g.worker_id IS DISTINCT FROM %(worker_id)s
   AND {worker_not_gone}) AS held

-- fragment: flow_budgets
-- The starts each limit of the claim allows now (NULL: none of its kind; LEAST ignores NULLs):
-- the cap minus its running runs and the slots others hold, the rate count minus the starts of
-- the current window. Reads the limits as "lim" gives them (the claim's snapshot, or next_due's
-- plain read). "window_ends": when the current rate window ends; "reopens": the same, for a
-- used-up window only.
budgets AS (
    SELECT x.scope, x.name, x.cap, x.running, x.held, x.rate_count, x.window_now,
           x.window_ends, x.window_used,
           GREATEST(LEAST(x.cap - x.running - x.held, x.rate_count - x.window_used), 0)
               AS budget,
           CASE WHEN x.rate_count - x.window_used <= 0 THEN x.window_ends END AS reopens
    FROM (
        SELECT y.*,
               -- the running runs up to the cap (more would not change the budget)
               CASE WHEN y.cap IS NULL THEN NULL ELSE (
                   SELECT count(*) FROM (
                       SELECT 1 FROM {prefix}runs r
                       WHERE r.status = 'running'
                         AND CASE WHEN y.scope = 'job' THEN r.job_type = y.name
                                  ELSE r.queue = y.name END
                       LIMIT y.cap
                   ) c
               ) END AS running,
               w.window_now,
               to_timestamp(((w.window_now + 1) * y.rate_period)::double precision)
                   AS window_ends,
               CASE WHEN y.stored_window = w.window_now THEN y.stored_used ELSE 0 END
                   AS window_used
        FROM lim y
        CROSS JOIN LATERAL (
            SELECT floor(EXTRACT(EPOCH FROM {now}) / y.rate_period)::bigint AS window_now
        ) w
    ) x
)

-- name: claim_limited
-- The claim when a cap or rate limit applies (claim_runs said "limited"). "lim" reads the limits
-- rows of the claim's job types and queues and the running runs are counted, both as of this
-- statement's snapshot, without a lock (optimistic). The statement ends by bumping "claims" (and
-- the rate window) of each limits row it started runs under; that UPDATE waits for a concurrent
-- claimer of the same row and reads its newest version. If another limited claim committed after
-- this snapshot under the same row ("claims" moved past the snapshot's), this count may miss its
-- runs: "flow_race" fails the statement whole (nothing claimed, nothing written) and the store
-- runs it again in a newer snapshot (flow.py). Runs finishing meanwhile only make the count too
-- high (a claim too small, never too large). Locking the rows first (FOR UPDATE, then checking
-- the snapshot) cost a row lock and a re-read per claim even without contention. Per
-- queue one scan of the claim index over the job types with starts left, so a job type at its
-- cap never blocks the runs behind it; the budgets of job types then cut the candidates in claim
-- order. The scan reads the claim's limit plus the budget of each job type whose budget is below
-- it (the runs it may cut): a claim cut short by a job type's budget leaves that type without
-- starts, so the next claim skips it. The same statement counts the starts in the rate windows and bumps "claims".
WITH lim AS (
    SELECT l.scope, l.name, l.claims, {flow_effective}, {flow_held},
           l.window_index AS stored_window, l.window_used AS stored_used
    FROM {prefix}flow_limits l
    WHERE {flow_of_claim} AND {flow_limited}
    ORDER BY l.scope, l.name
),
gate AS (
    SELECT count(*) > 0 AS limited FROM lim
),
{flow_budgets},
allowed AS (
    SELECT array_agg(t.name) AS job_types,
           %(limit)s::bigint + COALESCE((SELECT sum(b.budget)::bigint FROM budgets b
                                         WHERE b.scope = 'job' AND b.budget < %(limit)s::bigint),
                                        0) AS scan_limit
    FROM unnest(%(job_types)s::text[]) AS t (name)
    WHERE NOT EXISTS (
        SELECT 1 FROM budgets b WHERE b.scope = 'job' AND b.name = t.name AND b.budget <= 0
    )
),
picked AS (
    SELECT c.id, c.ctid, c.job_type,
           row_number() OVER (ORDER BY q.ord, c.priority DESC, c.run_at, c.id) AS rank
    FROM unnest(%(queues)s::text[]) WITH ORDINALITY AS q (name, ord)
    LEFT JOIN budgets qb ON qb.scope = 'queue' AND qb.name = q.name
    CROSS JOIN allowed a
    CROSS JOIN LATERAL (
        SELECT r.id, r.ctid, r.priority, r.run_at, r.job_type
        FROM {prefix}runs r
        WHERE r.status = 'pending'
          AND r.queue = q.name
          AND r.run_at <= {now}
          AND r.job_type = ANY (a.job_types)
          AND NOT EXISTS (
              SELECT 1 FROM {prefix}queues p WHERE p.name = q.name AND p.paused
          )
        ORDER BY r.priority DESC, r.run_at, r.id
        LIMIT LEAST(qb.budget, a.scan_limit)
        FOR UPDATE OF r SKIP LOCKED
    ) c
    -- no job type with starts left: no scan (it would read the whole backlog for nothing)
    WHERE a.job_types IS NOT NULL
),
chosen AS (
    SELECT k.id, k.ctid, k.rank
    FROM (
        SELECT p.*, row_number() OVER (PARTITION BY p.job_type ORDER BY p.rank) AS nth
        FROM picked p
    ) k
    LEFT JOIN budgets b ON b.scope = 'job' AND b.name = k.job_type
    WHERE b.budget IS NULL OR k.nth <= b.budget
    ORDER BY k.rank
    LIMIT %(limit)s
),
claimed AS (
    UPDATE {prefix}runs r
    SET status = 'running',
        attempt = r.attempt + 1,
        started_at = {now},
        finished_at = NULL,
        worker_id = %(worker_id)s,
        cancel_requested = false
    FROM chosen p
    WHERE r.ctid = p.ctid
    RETURNING {run_columns}, p.rank
),
-- The starts of this claim under each limit.
counted AS (
    SELECT b.*, (
        SELECT count(*) FROM claimed c
        WHERE CASE WHEN b.scope = 'job' THEN c.job_type = b.name ELSE c.queue = b.name END
    ) AS started
    FROM budgets b
),
-- The other live workers: how many, and how many runs they may run at once.
others AS (
    SELECT count(*) AS workers, COALESCE(sum(w.concurrency), 0) AS concurrency
    FROM {prefix}heartbeats w
    WHERE w.id <> %(worker_id)s AND {worker_not_gone}
),
-- A grant (claim_granted) when this claim took all it asked for and every limit stays far from
-- binding, to a live worker only (the others count live workers' grants only). Of a cap: half
-- of what is left once every other live worker ran all it may at once, so a grant never holds
-- back another worker's claim (a cap of 100 over 12 workers x 10 grants nothing). Of a rate
-- window: a sixteenth of what it has left, at most a sixteenth of the rate per live worker
-- (the starts a holder cannot use before the window ends are lost: together at most a
-- sixteenth), at most a hundred claims' worth. Each share at least four claims' worth: a rate
-- of 100/s or a cap of 60 never grants.
offer AS (
    SELECT s.slots, s.starts,
           s.limits > 0
           AND (SELECT count(*) FROM claimed) = %(limit)s::bigint
           AND COALESCE(s.slots >= 4 * %(limit)s::bigint, true)
           AND COALESCE(s.starts >= 4 * %(limit)s::bigint, true)
           AND {claimer_live} AS ok
    FROM (
        SELECT count(*) AS limits,
               min((c.cap - c.running - c.held - c.started - o.concurrency) / 2) AS slots,
               min(LEAST((c.rate_count - c.window_used - c.started) / 16,
                         c.rate_count / (16 * (o.workers + 1)),
                         100 * %(limit)s::bigint)) AS starts
        FROM counted c CROSS JOIN others o
    ) s
),
granted AS (
    INSERT INTO {prefix}flow_grants AS g (worker_id, scope, name, slots, valid_before)
    SELECT %(worker_id)s, c.scope, c.name,
           CASE WHEN c.cap IS NOT NULL THEN o.slots END,
           CASE WHEN c.rate_count IS NOT NULL THEN c.window_ends END
    FROM counted c CROSS JOIN offer o
    WHERE o.ok
    ON CONFLICT (worker_id, scope, name) DO UPDATE
    SET slots = EXCLUDED.slots, valid_before = EXCLUDED.valid_before
    RETURNING 1
),
-- no grant this time: the worker's earlier one goes (its claims come here meanwhile)
dropped AS (
    DELETE FROM {prefix}flow_grants g
    WHERE g.worker_id = %(worker_id)s AND NOT (SELECT o.ok FROM offer o)
    RETURNING 1
),
-- The bump of each limits row this claim started runs under (or grants a share of), the starts
-- granted counted in the rate window at once.
spent AS (
    UPDATE {prefix}flow_limits l
    SET claims = l.claims + 1,
        window_index = CASE WHEN c.rate_count IS NULL THEN l.window_index ELSE c.window_now END,
        window_used = CASE WHEN c.rate_count IS NULL THEN l.window_used
                           ELSE c.window_used + c.started
                                + CASE WHEN o.ok THEN o.starts ELSE 0 END END
    FROM counted c
    JOIN lim x ON x.scope = c.scope AND x.name = c.name
    CROSS JOIN offer o
    WHERE l.scope = c.scope AND l.name = c.name AND (c.started > 0 OR o.ok)
    -- the newest "claims" (this statement's bump included) against the snapshot's
    RETURNING l.name, l.claims <> x.claims + 1 AS raced
),
-- Another limited claim under one of these rows committed after this snapshot: fail whole with
-- this marker (flow.py: FLOW_RACE_MARK). sum() makes the cast run; the name keeps it from being
-- folded at plan time.
flow_race AS MATERIALIZED (
    SELECT ('zapjobs-flow-race ' || s.name)::integer AS g FROM spent s WHERE s.raced
),
async_commit AS (
    SELECT set_config('synchronous_commit', 'off', true) AS setting
)
SELECT c.*, g.limited, (SELECT count(*) FROM spent) AS spent,
       (SELECT sum(r.g) FROM flow_race r) AS raced, o.ok AS granted,
       CASE WHEN o.ok THEN o.starts END AS granted_starts,
       {claimed_parent_outputs}
FROM gate g CROSS JOIN offer o CROSS JOIN async_commit
LEFT JOIN claimed c ON true
ORDER BY c.rank

-- name: next_due_limited
-- next_due when a limit applies to the job types or queues: as next_due, leaving out the job
-- types and queues with no start left now, which are due again when their rate window ends
-- ("reopens"), or, held by a cap, in core.flow.CAP_RECHECK (%(cap_recheck)s seconds: the worker
-- whose run frees the cap claims at once; others look again then). A plain read, no lock.
WITH RECURSIVE lim AS (
    SELECT l.scope, l.name, l.claims, {flow_effective}, {flow_held},
           l.window_index AS stored_window, l.window_used AS stored_used
    FROM {prefix}flow_limits l
    WHERE {flow_of_claim} AND {flow_limited}
),
{flow_budgets},
held AS (
    SELECT b.scope, b.name,
           COALESCE(b.reopens, {now} + make_interval(secs => %(cap_recheck)s::double precision))
               AS reopens
    FROM budgets b
    WHERE b.budget <= 0
),
priorities AS (
    SELECT q.name AS queue,
           (SELECT r.priority FROM {prefix}runs r
            WHERE r.status = 'pending' AND r.queue = q.name
            ORDER BY r.priority DESC LIMIT 1) AS priority
    FROM unnest(%(queues)s::text[]) AS q (name)
    WHERE NOT EXISTS (SELECT 1 FROM {prefix}queues p WHERE p.name = q.name AND p.paused)
      AND NOT EXISTS (SELECT 1 FROM held h WHERE h.scope = 'queue' AND h.name = q.name)
      -- some job type not held (else the scans below would read every pending run for nothing)
      AND EXISTS (
          SELECT 1 FROM unnest(%(job_types)s::text[]) AS t (name)
          WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.scope = 'job' AND h.name = t.name)
      )
    UNION ALL
    SELECT p.queue,
           (SELECT r.priority FROM {prefix}runs r
            WHERE r.status = 'pending' AND r.queue = p.queue AND r.priority < p.priority
            ORDER BY r.priority DESC LIMIT 1)
    FROM priorities p
    WHERE p.priority IS NOT NULL
),
earliest AS (
    SELECT min(e.run_at) AS at
    FROM priorities p
    CROSS JOIN LATERAL (
        SELECT r.run_at FROM {prefix}runs r
        WHERE r.status = 'pending'
          AND r.queue = p.queue
          AND r.priority = p.priority
          AND r.job_type = ANY (%(job_types)s::text[])
          AND NOT EXISTS (
              SELECT 1 FROM held h WHERE h.scope = 'job' AND h.name = r.job_type
          )
        ORDER BY r.priority DESC, r.run_at
        LIMIT 1
    ) e
    WHERE p.priority IS NOT NULL
)
SELECT EXTRACT(EPOCH FROM LEAST(e.at, (SELECT min(h.reopens) FROM held h)) - {now})::float8
           AS due_in,
       (SELECT count(*) FROM lim) > 0 AS limited
FROM earliest e

-- name: declare_flow_limits
-- The declared values of the given job types and queues: rows that exist take them (NULL clears
-- them), new rows are made only for those that declare a limit. A changed effective rate starts
-- a new count.
WITH given AS (
    SELECT *
    FROM unnest(%(scopes)s::text[], %(names)s::text[], %(caps)s::integer[],
                %(rate_counts)s::integer[], %(rate_periods)s::integer[])
        AS g (scope, name, cap, rate_count, rate_period)
),
updated AS (
    UPDATE {prefix}flow_limits l
    SET max_concurrency = g.cap,
        rate_count = g.rate_count,
        rate_period = g.rate_period,
        window_index = CASE
            WHEN l.rate_count_override IS NULL
             AND (l.rate_count, l.rate_period) IS DISTINCT FROM (g.rate_count, g.rate_period)
            THEN NULL ELSE l.window_index END,
        updated_at = {now}
    FROM given g
    WHERE l.scope = g.scope AND l.name = g.name
      AND (l.max_concurrency, l.rate_count, l.rate_period)
          IS DISTINCT FROM (g.cap, g.rate_count, g.rate_period)
    RETURNING l.scope, l.name
),
-- a changed limit takes back the grants made under the old one (claim_granted)
revoked AS (
    DELETE FROM {prefix}flow_grants x USING updated u
    WHERE x.scope = u.scope AND x.name = u.name
    RETURNING 1
)
INSERT INTO {prefix}flow_limits AS l (
    scope, name, max_concurrency, rate_count, rate_period, updated_at
)
SELECT g.scope, g.name, g.cap, g.rate_count, g.rate_period, {now}
FROM given g
WHERE g.cap IS NOT NULL OR g.rate_count IS NOT NULL
ON CONFLICT (scope, name) DO NOTHING

-- name: set_flow_override
-- Limits rows of queues wake the queue's workers: a raised limit may let waiting runs start.
WITH changed AS (
    INSERT INTO {prefix}flow_limits AS l (
        scope, name, max_concurrency_override, rate_count_override, rate_period_override,
        updated_at
    )
    VALUES (%(scope)s, %(name)s, %(cap)s::integer, %(rate_count)s::integer,
            %(rate_period)s::integer, {now})
    ON CONFLICT (scope, name) DO UPDATE SET
        max_concurrency_override = EXCLUDED.max_concurrency_override,
        rate_count_override = EXCLUDED.rate_count_override,
        rate_period_override = EXCLUDED.rate_period_override,
        window_index = NULL,
        window_used = 0,
        updated_at = EXCLUDED.updated_at
    RETURNING {flow_columns}
),
-- the grants made under the old values go (claim_granted)
revoked AS (
    DELETE FROM {prefix}flow_grants x USING changed c
    WHERE x.scope = c.scope AND x.name = c.name
    RETURNING 1
),
woken AS (
    SELECT {notify}
    FROM (SELECT 'runs' AS kind, NULL::bigint AS run_id, c.name AS queue FROM changed c
          WHERE c.scope = 'queue') n
)
SELECT c.*, (SELECT count(*) FROM woken) AS woken FROM changed c

-- fragment: flow_columns
l.scope, l.name, l.max_concurrency, l.rate_count, l.rate_period, l.max_concurrency_override,
l.rate_count_override, l.rate_period_override

-- name: list_flow_limits
SELECT {flow_columns} FROM {prefix}flow_limits l ORDER BY l.scope, l.name COLLATE "C"

-- ==============================================================================================
-- maintenance
-- ==============================================================================================

-- name: rescue_stale
-- One statement, row locks with SKIP LOCKED: concurrent callers rescue each run exactly once.
-- A run is lost when its worker was last seen before the cutoff, or, with no worker row, when
-- it started before the cutoff. Attempts left (attempt < the run's max_attempts): back to
-- pending, due now; otherwise failed.
WITH RECURSIVE stale AS (
    SELECT w.id FROM {prefix}heartbeats w
    WHERE w.stopped_at IS NULL
      AND w.dead_at IS NULL
      AND w.last_seen_at < {now} - %(stale_after)s::interval
    FOR UPDATE SKIP LOCKED
),
marked AS (
    UPDATE {prefix}heartbeats w
    SET dead_at = {now}
    FROM stale s
    WHERE w.id = s.id
    RETURNING w.id
),
lost AS (
    SELECT r.id, r.attempt < r.max_attempts AS retry
    FROM {prefix}runs r
    LEFT JOIN {prefix}heartbeats w ON w.id = r.worker_id
    WHERE r.status = 'running'
      AND CASE WHEN w.id IS NULL
               THEN r.started_at IS NULL OR r.started_at
                    < {now} - %(stale_after)s::interval
               ELSE w.last_seen_at
                    < {now} - %(stale_after)s::interval
          END
    FOR UPDATE OF r SKIP LOCKED
),
rescued AS (
    UPDATE {prefix}runs r
    SET status = CASE WHEN l.retry THEN 'pending' ELSE 'failed' END,
        run_at = CASE WHEN l.retry THEN {now} ELSE r.run_at END,
        finished_at = CASE WHEN l.retry THEN NULL ELSE {now} END,
        error_type = 'WorkerLost',
        error_message = 'worker ' || COALESCE(r.worker_id, 'unknown')
            || ' stopped sending heartbeats',
        error_traceback = NULL,
        worker_id = NULL,
        cancel_requested = false
    FROM lost l
    WHERE r.id = l.id
    RETURNING r.id, r.status, r.queue, r.job_type, {stamp_raced}
),
ended AS (SELECT id, status, raced FROM rescued WHERE has_children AND status = 'failed'),
{release_guard},
{release_children},
{released_woken},
deltas AS (
    SELECT queue, job_type, status, 1 AS delta FROM rescued
    UNION ALL
    SELECT queue, job_type, 'cancelled', 1 FROM dropped
),
{count_finished},
-- The rescued runs are due now: as many workers as runs claim (count and token).
woken AS (
    SELECT {notify_due}
    FROM (SELECT 'runs' AS kind, queue, NULL::float8 AS due_in, count(*) AS count,
                 min(id) AS token
          FROM rescued WHERE status = 'pending' GROUP BY queue) n
)
SELECT 'worker' AS kind, m.id AS worker_id, NULL::bigint AS run_id, NULL::text AS status
FROM marked m
UNION ALL
SELECT 'run', NULL, x.id, x.status FROM rescued x
UNION ALL
SELECT 'notify', NULL, NULL, NULL FROM woken
UNION ALL
SELECT 'released', NULL, NULL, NULL FROM released_woken
UNION ALL
SELECT 'guard', NULL, (SELECT sum(g) FROM guard), NULL

-- name: prune_runs
-- One short batch; the caller loops until a batch comes back short. Logs go by cascade.
WITH batch AS (
    SELECT r.id FROM {prefix}runs r
    WHERE r.status IN ('succeeded', 'failed', 'cancelled')
      AND r.finished_at < {now} - %(retention)s::interval
      -- workflows: a run goes with or after its children, once each is final and past retention
      AND NOT EXISTS (
          SELECT 1 FROM {prefix}run_parents e JOIN {prefix}runs c ON c.id = e.run_id
          WHERE e.parent_id = r.id
            AND (c.status NOT IN ('succeeded', 'failed', 'cancelled')
                 OR c.finished_at >= {now} - %(retention)s::interval)
      )
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM {prefix}runs r USING batch b WHERE r.id = b.id
    RETURNING r.queue, r.job_type, r.status
),
deltas AS (SELECT queue, job_type, status, -1 AS delta FROM deleted),
{count_finished}
SELECT count(*) AS n FROM deleted

-- name: prune_logs
WITH batch AS (
    SELECT l.id FROM {prefix}logs l
    WHERE l.logged_at < {now} - %(retention)s::interval
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM {prefix}logs l USING batch b WHERE l.id = b.id RETURNING 1
)
SELECT count(*) AS n FROM deleted

-- name: prune_workers
WITH batch AS (
    SELECT w.id FROM {prefix}heartbeats w
    WHERE (w.stopped_at IS NOT NULL OR w.dead_at IS NOT NULL)
      AND w.last_seen_at < {now} - %(retention)s::interval
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
),
deleted AS (
    DELETE FROM {prefix}heartbeats w USING batch b WHERE w.id = b.id RETURNING 1
)
SELECT count(*) AS n FROM deleted

-- ==============================================================================================
-- diagnosis (zapjobs doctor): server settings and statistics, and cheap reads of pending and
-- running runs and of the oldest rows (tests/stores/test_postgres_diagnosis_plans.py)
-- ==============================================================================================

-- name: server_facts
-- The runs table's own autovacuum options win over the server's; reserved connections are the
-- superusers' (and, from PostgreSQL 16, pg_use_reserved_connections members').
WITH opts AS (
    SELECT o.option_name, o.option_value
    FROM pg_class c, pg_options_to_table(c.reloptions) o
    WHERE c.oid = to_regclass(%(runs_table)s)
)
SELECT clock_timestamp() AS now,
       current_setting('max_connections')::integer AS max_connections,
       (SELECT COALESCE(sum(s.setting::integer), 0) FROM pg_settings s
        WHERE s.name IN ('superuser_reserved_connections', 'reserved_connections'))
           AS reserved_connections,
       (SELECT count(*) FROM pg_stat_activity a WHERE a.backend_type = 'client backend')
           AS connections_in_use,
       current_setting('autovacuum')::boolean AND current_setting('track_counts')::boolean
           AS autovacuum,
       COALESCE((SELECT o.option_value::boolean FROM opts o
                 WHERE o.option_name = 'autovacuum_enabled'), true) AS runs_autovacuum,
       COALESCE((SELECT o.option_value::integer FROM opts o
                 WHERE o.option_name = 'autovacuum_vacuum_threshold'),
                current_setting('autovacuum_vacuum_threshold')::integer)
           AS runs_vacuum_threshold,
       COALESCE((SELECT o.option_value::double precision FROM opts o
                 WHERE o.option_name = 'autovacuum_vacuum_scale_factor'),
                current_setting('autovacuum_vacuum_scale_factor')::double precision)
           AS runs_vacuum_scale_factor,
       (SELECT s.setting::bigint FROM pg_settings s
        WHERE s.name = 'idle_in_transaction_session_timeout') AS idle_in_transaction_timeout_ms,
       (SELECT min(a.xact_start) FROM pg_stat_activity a
        WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
          AND a.backend_type = 'client backend') AS oldest_transaction_started_at

-- name: table_facts
-- Statistics only (estimates kept by the server), never a read of the tables themselves.
SELECT c.relname AS name,
       COALESCE(s.n_live_tup, 0) AS live_rows,
       COALESCE(s.n_dead_tup, 0) AS dead_rows,
       pg_table_size(c.oid) AS table_bytes,
       pg_indexes_size(c.oid) AS index_bytes,
       ARRAY(SELECT ic.relname::text FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
             WHERE i.indrelid = c.oid AND NOT (i.indisvalid AND i.indisready)
             ORDER BY ic.relname) AS invalid_indexes,
       GREATEST(s.last_autovacuum, s.last_vacuum) AS last_vacuum_at
FROM unnest(%(tables)s::text[]) WITH ORDINALITY AS t (name, ord)
JOIN pg_class c ON c.oid = to_regclass(t.name)
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
ORDER BY t.ord

-- name: queue_backlog
-- Pending runs only, from the claim index (partial: status = 'pending').
SELECT r.queue,
       count(*) AS pending,
       count(*) FILTER (WHERE r.run_at <= {now}) AS due,
       count(*) FILTER (WHERE r.run_at < {now} - %(overdue_after)s::interval) AS overdue,
       min(r.run_at) FILTER (WHERE r.run_at <= {now}) AS oldest_due_at
FROM {prefix}runs r
WHERE r.status = 'pending'
GROUP BY r.queue
ORDER BY r.queue COLLATE "C"

-- name: running_by_job_type
-- Running runs only, from the running index (partial: status = 'running').
SELECT r.job_type,
       count(*) AS running,
       min(r.started_at) AS oldest_started_at,
       (array_agg(r.id ORDER BY r.started_at, r.id))[1] AS oldest_run_id
FROM {prefix}runs r
WHERE r.status = 'running' AND r.started_at IS NOT NULL
GROUP BY r.job_type
ORDER BY r.job_type COLLATE "C"

-- name: retention_facts
-- Each walks its time index from the oldest end and stops at the first row.
SELECT (SELECT r.finished_at FROM {prefix}runs r
        WHERE r.finished_at IS NOT NULL AND r.status IN ('succeeded', 'failed', 'cancelled')
        ORDER BY r.finished_at LIMIT 1) AS oldest_finished_at,
       (SELECT l.logged_at FROM {prefix}logs l ORDER BY l.logged_at LIMIT 1) AS oldest_log_at

-- name: notify_probe
SELECT pg_notify(%(channel)s, %(payload)s)
