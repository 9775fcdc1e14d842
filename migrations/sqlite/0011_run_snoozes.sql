-- zapjobs SQLite schema, version 11 (the number matches PostgreSQL's migration of the same
-- change): a run counts the times its job snoozed it (raise Snooze / ctx.snooze): the run went
-- back to pending without consuming its attempt, so the count is the only trace of those
-- attempts on the run (runs show prints it). 0 for every older run.

ALTER TABLE {prefix}runs ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0;

-- A job type's unique settings as its code declared them (unique_by_input, unique_for, and the
-- states a run holds its key in, as the runs' bitmask), stored with its definition so that
-- operators see them (jobs show, the dashboard). Enqueues take them from the code; all three
-- are NULL for a job type that declares no uniqueness.
ALTER TABLE {prefix}definitions ADD COLUMN unique_by_input INTEGER;
ALTER TABLE {prefix}definitions ADD COLUMN unique_for_seconds REAL;
ALTER TABLE {prefix}definitions ADD COLUMN unique_states INTEGER;
