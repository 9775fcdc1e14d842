-- zapjobs SQLite schema, version 11 (the number matches PostgreSQL's migration of the same
-- change): a run counts the times its job snoozed it (raise Snooze / ctx.snooze): the run went
-- back to pending without consuming its attempt, so the count is the only trace of those
-- attempts on the run (runs show prints it). 0 for every older run.

ALTER TABLE {prefix}runs ADD COLUMN snoozes INTEGER NOT NULL DEFAULT 0;
