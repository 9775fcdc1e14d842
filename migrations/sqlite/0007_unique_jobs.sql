-- zapjobs SQLite schema, version 7 (the number matches PostgreSQL's migration of the same
-- change): unique jobs. A run may hold a unique key (per job type) while its status is one of its
-- unique states, a bitmask stored with the run (pending 1, running 2, succeeded 4, failed 8,
-- cancelled 16; models.UNIQUE_STATE_BITS). The partial unique index is the whole rule: enqueues
-- insert with ON CONFLICT DO NOTHING against it. NULL on runs without a key and on older runs.

ALTER TABLE {prefix}runs ADD COLUMN unique_key TEXT;
ALTER TABLE {prefix}runs ADD COLUMN unique_states INTEGER;

CREATE UNIQUE INDEX {prefix}runs_unique_key_idx ON {prefix}runs (job_type, unique_key)
    WHERE unique_key IS NOT NULL
      AND (unique_states & CASE status WHEN 'pending' THEN 1 WHEN 'running' THEN 2
                                       WHEN 'succeeded' THEN 4 WHEN 'failed' THEN 8
                                       WHEN 'cancelled' THEN 16 ELSE 0 END) <> 0;
