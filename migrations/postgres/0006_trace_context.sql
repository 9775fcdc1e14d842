-- zapjobs PostgreSQL schema, version 6: a run keeps the W3C trace context it was enqueued under
-- (JSON text: {"traceparent": ..., "tracestate": ...}), so each attempt's span continues the
-- enqueuer's trace (zapjobs.tracing). NULL when the enqueue was not traced, and for every run
-- inserted before this version. A nullable column without a default rewrites no rows.

ALTER TABLE {prefix}runs ADD COLUMN trace_context text;
