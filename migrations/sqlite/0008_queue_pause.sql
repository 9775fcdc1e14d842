-- zapjobs SQLite schema, version 8 (the number matches PostgreSQL's migration of the same
-- change): a queue's pause state lives in the database, so every worker process sees it. One row
-- per queue that was ever paused or resumed (a queue without a row is not paused). The claim
-- reads it in the same statement (queries.sql: claim_candidates) through the primary key.

CREATE TABLE {prefix}queues (
    name        TEXT PRIMARY KEY,
    paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    updated_at  INTEGER NOT NULL
);
