-- zapjobs PostgreSQL schema, version 9: workflows. A run may be enqueued after other runs (its
-- parents); it is 'waiting' until the last of them finishes, then becomes pending exactly once.
--
-- run_parents holds the edges, one row per (child, parent); "done" says the parent's end was
-- applied to the child already, so no end is applied twice (queries.sql: release_children). On
-- the child: parents_left, the parents not yet applied (the release is one conditional UPDATE of
-- this counter under the child's row lock, however many parents finish at once); its policy for a
-- parent that fails for good or is cancelled; and cancelled_by, the parent whose end cancelled
-- it, so a retry of that parent re-arms exactly these runs; input_from, where a workflow step's
-- input comes from. On the parent: child_stamp, bumped by
-- every enqueue of a child of it, which lets a completion notice a child enqueued after its
-- snapshot (it then starts over, see queries.sql: release_guard). Every new column is NULL or
-- has a constant default: no row is rewritten.

ALTER TABLE {prefix}runs DROP CONSTRAINT {prefix}runs_status_check;
-- Rows written before this version satisfy the narrower check already: NOT VALID skips reading
-- them, and the new check holds for every write from now on.
ALTER TABLE {prefix}runs ADD CONSTRAINT {prefix}runs_status_check
    CHECK (status IN ('waiting', 'pending', 'running', 'succeeded', 'failed', 'cancelled'))
    NOT VALID;

ALTER TABLE {prefix}runs
    ADD COLUMN parents_left integer,
    ADD COLUMN on_parent_failure text CHECK (on_parent_failure IN ('cancel', 'run')),
    ADD COLUMN cancelled_by bigint,
    -- a step of a chain or a group's callback: its input is its parent's output ('parent') or
    -- the list of its parents' outputs ('parents'), read when it runs (zapjobs.workflows)
    ADD COLUMN input_from text CHECK (input_from IN ('parent', 'parents')),
    ADD COLUMN child_stamp integer NOT NULL DEFAULT 0;

CREATE TABLE {prefix}run_parents (
    run_id     bigint NOT NULL REFERENCES {prefix}runs (id) ON DELETE CASCADE,
    -- no foreign key: a parent may be deleted once no unfinished run needs it, and the edge
    -- stays with its child as history
    parent_id  bigint NOT NULL,
    done       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (run_id, parent_id)
);

-- A finishing run finds the runs waiting for it; a run shows its children.
CREATE INDEX {prefix}run_parents_parent_idx ON {prefix}run_parents (parent_id);
-- Waiting runs counted (stats) and listed without reading the others.
CREATE INDEX {prefix}runs_waiting_idx ON {prefix}runs (queue) WHERE status = 'waiting';
-- A retry finds the runs its run cancelled.
CREATE INDEX {prefix}runs_cancelled_by_idx ON {prefix}runs (cancelled_by)
    WHERE cancelled_by IS NOT NULL;
