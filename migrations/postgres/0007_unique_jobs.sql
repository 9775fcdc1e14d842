-- zapjobs PostgreSQL schema, version 7: unique jobs. A run may hold a unique key (per job type)
-- while its status is one of its unique states, stored as a bitmask with the run (pending 1,
-- running 2, succeeded 4, failed 8, cancelled 16; models.UNIQUE_STATE_BITS). The partial unique
-- index below is the whole rule: an enqueue inserts with ON CONFLICT DO NOTHING against it, so
-- concurrent enqueuers of one key get one run. Both columns are NULL on runs without a key and on
-- every run inserted before this version; nullable columns without a default rewrite no rows, and
-- the index holds only keyed runs. The predicate is repeated, word for word, as the fragment
-- unique_holder of queries.sql (ON CONFLICT must match it).

ALTER TABLE {prefix}runs ADD COLUMN unique_key text, ADD COLUMN unique_states smallint;

CREATE UNIQUE INDEX {prefix}runs_unique_key_idx ON {prefix}runs (job_type, unique_key)
    WHERE unique_key IS NOT NULL
      AND (unique_states & CASE status WHEN 'pending' THEN 1 WHEN 'running' THEN 2
                                       WHEN 'succeeded' THEN 4 WHEN 'failed' THEN 8
                                       WHEN 'cancelled' THEN 16 ELSE 0 END) <> 0;
