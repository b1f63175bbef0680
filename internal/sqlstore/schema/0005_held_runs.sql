-- Held runs: a resync the mass-change guard stopped because it would
-- delete or overwrite too many records of one object, or the deletes of
-- one object past the guard in a burst of live changes, kept until an
-- admin approves (its changes are queued) or discards it. summary is the
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
-- An object has at most one pending burst run: deletes past the guard
-- join it until an admin decides.
CREATE UNIQUE INDEX held_runs_burst ON held_runs (object) WHERE kind = 'burst' AND state = 'pending';

-- The changes a pending run holds, in the order the run would have
-- queued them; dropped when the run is decided.
CREATE TABLE held_changes (
    run_id {{.Int64}} NOT NULL,
    seq    {{.Int32}} NOT NULL,
    change {{.Bytes}} NOT NULL,
    -- The change's event id: a change held twice (a crash between
    -- holding it and finishing it) is kept once.
    event_id {{.Text}} NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, seq)
);
CREATE UNIQUE INDEX held_changes_event ON held_changes (run_id, event_id) WHERE event_id <> '';
