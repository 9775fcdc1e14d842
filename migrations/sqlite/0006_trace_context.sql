-- zapjobs SQLite schema, version 6 (the number matches PostgreSQL's migration of the same
-- change): a run keeps the W3C trace context it was enqueued under (JSON text:
-- {"traceparent": ..., "tracestate": ...}), so each attempt's span continues the enqueuer's
-- trace (zapjobs.tracing). NULL when the enqueue was not traced, and for every older run.

ALTER TABLE {prefix}runs ADD COLUMN trace_context TEXT;
