-- zapjobs PostgreSQL schema, version 8: a queue's pause state lives in the database, so every
-- worker on every machine sees it. One row per queue that was ever paused or resumed (a queue
-- without a row is not paused). The claim reads it in the same statement (queries.sql:
-- claim_runs) through the primary key, so a pause takes effect at every worker's next claim.

CREATE TABLE {prefix}queues (
    name        text PRIMARY KEY,
    paused      boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
