-- zapjobs SQLite schema, version 12: each log entry records the attempt of its run that
-- wrote it, so the run detail and `zapjobs runs logs` can mark where each attempt starts, and
-- the error of every failed attempt (a log entry the worker writes, see RunLogger and the
-- completer) stays readable after the run is retried. Entries written before this migration
-- keep NULL (attempt unknown). Adding a nullable column without a default rewrites nothing.

ALTER TABLE {prefix}logs ADD COLUMN attempt integer;
