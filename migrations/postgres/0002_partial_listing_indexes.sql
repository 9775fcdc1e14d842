-- zapjobs PostgreSQL schema, version 2: the listing indexes leave the hot states out.
--
-- A run changes status twice (claimed, finished), and each change writes a new row version with
-- an entry in every index whose predicate it matches. With full (status, id), (job_type, id) and
-- (queue, id) indexes a claim wrote five index entries and a completion five; the drain
-- benchmark spent a third of its server time there. Running runs are few and have their own
-- index, so these indexes skip them (a claim now writes two entries); succeeded runs, the bulk
-- of the table, are listed by status from the primary key, so the status index skips them too.
-- The listing statements read running runs in a branch of their own (queries.sql: list_runs).

DROP INDEX {prefix}runs_status_idx;
DROP INDEX {prefix}runs_job_type_idx;
DROP INDEX {prefix}runs_queue_idx;

CREATE INDEX {prefix}runs_status_idx ON {prefix}runs (status, id)
    WHERE status <> 'running' AND status <> 'succeeded';
CREATE INDEX {prefix}runs_job_type_idx ON {prefix}runs (job_type, id)
    WHERE status <> 'running';
CREATE INDEX {prefix}runs_queue_idx ON {prefix}runs (queue, id)
    WHERE status <> 'running';
