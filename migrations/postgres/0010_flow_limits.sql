-- zapjobs PostgreSQL schema, version 10: flow control. One row per job type (scope 'job') or
-- queue (scope 'queue') that declares, or ever declared, a concurrency cap or a rate limit: the
-- declared values (code or settings) and the operator's overrides (which win when set). A job
-- type or queue without a row, or whose effective values are all NULL, is not limited, and its
-- claims take the unlimited path (queries.sql: claim_runs) without ever locking a row here.
--
-- Limited claims (queries.sql: claim_limited) lock the rows that apply (FOR UPDATE, in key
-- order), count the running runs in the same statement and compare "claims" as locked with
-- "claims" as of the statement's snapshot: a limited claim that committed in between makes the
-- statement claim nothing and run again (its runs would be missing from the count). The rate
-- window state (window_index: the number of the window from the Unix epoch; window_used: the
-- starts counted in it) is updated by the claim that spends it.

CREATE TABLE {prefix}flow_limits (
    scope                     text NOT NULL CHECK (scope IN ('job', 'queue')),
    name                      text NOT NULL,
    max_concurrency           integer CHECK (max_concurrency >= 1),
    rate_count                integer CHECK (rate_count >= 1),
    rate_period               integer CHECK (rate_period >= 1),
    max_concurrency_override  integer CHECK (max_concurrency_override >= 1),
    rate_count_override       integer CHECK (rate_count_override >= 1),
    rate_period_override      integer CHECK (rate_period_override >= 1),
    window_index              bigint,
    window_used               integer NOT NULL DEFAULT 0,
    claims                    bigint NOT NULL DEFAULT 0,
    updated_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name),
    CHECK ((rate_count IS NULL) = (rate_period IS NULL)),
    CHECK ((rate_count_override IS NULL) = (rate_period_override IS NULL))
);
