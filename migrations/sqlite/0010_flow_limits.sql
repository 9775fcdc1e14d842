-- zapjobs SQLite schema, version 10 (the number matches PostgreSQL's migration of the same
-- change): flow control. One row per job type (scope 'job') or queue (scope 'queue') that
-- declares, or ever declared, a concurrency cap or a rate limit: the declared values (code or
-- settings) and the operator's overrides (which win when set). The claim reads them, counts the
-- running runs and spends the rate window in its write transaction (one writer at a time), so
-- no two claims can exceed a limit together. window_index: the number of the rate window from
-- the Unix epoch; window_used: the starts counted in it.

CREATE TABLE {prefix}flow_limits (
    scope                     TEXT NOT NULL CHECK (scope IN ('job', 'queue')),
    name                      TEXT NOT NULL,
    max_concurrency           INTEGER CHECK (max_concurrency >= 1),
    rate_count                INTEGER CHECK (rate_count >= 1),
    rate_period               INTEGER CHECK (rate_period >= 1),
    max_concurrency_override  INTEGER CHECK (max_concurrency_override >= 1),
    rate_count_override       INTEGER CHECK (rate_count_override >= 1),
    rate_period_override      INTEGER CHECK (rate_period_override >= 1),
    window_index              INTEGER,
    window_used               INTEGER NOT NULL DEFAULT 0,
    claims                    INTEGER NOT NULL DEFAULT 0,
    updated_at                INTEGER NOT NULL,
    PRIMARY KEY (scope, name),
    CHECK ((rate_count IS NULL) = (rate_period IS NULL)),
    CHECK ((rate_count_override IS NULL) = (rate_period_override IS NULL))
);
