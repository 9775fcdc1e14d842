-- zapjobs PostgreSQL schema, version 11: a run counts the times its job snoozed it (raise
-- Snooze / ctx.snooze): the run went back to pending without consuming its attempt, so the count
-- is the only trace of those attempts on the run (runs show prints it). A constant default is
-- stored in the catalog: adding the column rewrites no rows.

ALTER TABLE {prefix}runs ADD COLUMN snoozes integer NOT NULL DEFAULT 0;
