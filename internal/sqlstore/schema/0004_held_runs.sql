-- Held runs: a resync the mass-change guard stopped because it would
-- delete or overwrite too many records of one object, kept until an admin
-- approves (its changes are queued) or discards it. summary is the
-- billsync.HeldRun JSON (counts, limits, sample) less the columns below.
-- Times follow 0001: unix nanoseconds, NULL for zero.

CREATE TABLE held_runs (
    id         {{.Identity}},
    created_at {{.Int64}} NOT NULL,
    kind       {{.Text}} NOT NULL,
    job        {{.Text}} NOT NULL DEFAULT '',
    object     {{.Text}} NOT NULL,
    state      {{.Text}} NOT NULL CHECK (state IN ('pending', 'approved', 'discarded')),
    changes    {{.Int64}} NOT NULL DEFAULT 0,
    summary    {{.JSON}} NOT NULL DEFAULT '{}',
    decided_at {{.Int64}},
    decided_by {{.Text}} NOT NULL DEFAULT ''
);
CREATE INDEX held_runs_state ON held_runs (state, id);

-- The changes a pending run holds, in the order the run would have
-- queued them; dropped when the run is decided.
CREATE TABLE held_changes (
    run_id {{.Int64}} NOT NULL,
    seq    {{.Int32}} NOT NULL,
    change {{.Bytes}} NOT NULL,
    PRIMARY KEY (run_id, seq)
);
