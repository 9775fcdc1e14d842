-- zapjobs PostgreSQL schema, version 3: every run carries its retry budget (as River and Oban
-- keep max_attempts on the job row), fixed at enqueue: 1 + the operator's max_retries override,
-- else the job type's max_retries. The worker, the stale-worker rescue and the screens read it
-- off the run instead of recomputing it.
--
-- The default (4: the default retry policy's 3 retries, plus the first attempt) serves rows
-- inserted by an older zapjobs during a rolling upgrade. Existing runs of a job type with a
-- stored definition get that definition's budget (its override, else its max_retries); runs of
-- job types without one keep the default. Adding a column with a constant default rewrites no
-- rows; the update below writes only the runs whose budget differs from it.

ALTER TABLE {prefix}runs
    ADD COLUMN max_attempts integer NOT NULL DEFAULT 4 CHECK (max_attempts >= 1);

UPDATE {prefix}runs r
SET max_attempts = COALESCE(d.max_retries_override, d.max_retries) + 1
FROM {prefix}definitions d
WHERE d.job_type = r.job_type
  AND COALESCE(d.max_retries_override, d.max_retries) + 1 <> 4;
