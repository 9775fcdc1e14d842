-- zapjobs PostgreSQL schema, version 13: flow grants. A limited claim (queries.sql:
-- claim_limited) that finds a limit far from binding sets aside, for the worker that made it, a
-- share of each limit of its claim: "slots" of a concurrency cap (the worker's running runs,
-- all of them, stay within it) and starts of the current rate window (counted in the limits
-- row's window_used at once, usable until "valid_before", the window's end). The worker's next
-- claims then take claim_granted: the unlimited claim's scan, checking its grant, without a
-- write to the limits row. Other limited claims subtract the slots of live workers' grants from
-- the cap. A grant goes when its worker's claim comes back short (no more work), at the worker's
-- next limited claim (which may grant anew), when an operator or a deploy changes the limit,
-- and with the worker's row (pruned).

CREATE TABLE {prefix}flow_grants (
    worker_id     text NOT NULL REFERENCES {prefix}heartbeats (id) ON DELETE CASCADE,
    scope         text NOT NULL,
    name          text NOT NULL,
    slots         integer,
    valid_before  timestamptz,
    PRIMARY KEY (worker_id, scope, name),
    FOREIGN KEY (scope, name) REFERENCES {prefix}flow_limits (scope, name) ON DELETE CASCADE
);

CREATE INDEX {prefix}flow_grants_limit_idx ON {prefix}flow_grants (scope, name);

-- The live workers (neither stopped nor found dead): a grant's size leaves room for what they
-- may run at once, read by the limited claim that grants it.
CREATE INDEX {prefix}heartbeats_live_idx ON {prefix}heartbeats (id) INCLUDE (concurrency)
    WHERE stopped_at IS NULL AND dead_at IS NULL;
