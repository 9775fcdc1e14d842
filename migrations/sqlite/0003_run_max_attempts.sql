-- zapjobs SQLite schema, version 3 (the number matches PostgreSQL's migration of the same
-- change; SQLite has no version 2): every run carries its retry budget, fixed at enqueue: 1 + the
-- operator's max_retries override, else the job type's max_retries. The worker, the stale-worker
-- rescue and the screens read it off the run instead of recomputing it.
--
-- The default (4: the default retry policy's 3 retries, plus the first attempt) serves rows
-- inserted by an older zapjobs. Existing runs of a job type with a stored definition get that
-- definition's budget (its override, else its max_retries); others keep the default.

ALTER TABLE {prefix}runs
    ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 4 CHECK (max_attempts >= 1);

UPDATE {prefix}runs AS r
SET max_attempts = COALESCE(d.max_retries_override, d.max_retries) + 1
FROM {prefix}definitions AS d
WHERE d.job_type = r.job_type
  AND COALESCE(d.max_retries_override, d.max_retries) + 1 <> 4;
