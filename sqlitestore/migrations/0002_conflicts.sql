-- Conflicts (D3): same-field changes on both sides, with both values and
-- what became of them. Times follow 0001: unix nanoseconds, NULL for zero.

CREATE TABLE conflicts (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    at                    INTEGER NOT NULL,
    object                TEXT NOT NULL,
    billing_id            TEXT NOT NULL,
    salesforce_id         TEXT NOT NULL DEFAULT '',
    fields                TEXT NOT NULL DEFAULT '[]',
    policy                TEXT NOT NULL DEFAULT '',
    status                TEXT NOT NULL CHECK (status IN ('held', 'resolved')),
    winner                TEXT NOT NULL DEFAULT '',
    billing_changed_at    INTEGER,
    salesforce_changed_at INTEGER,
    resolved_at           INTEGER,
    resolved_by           TEXT NOT NULL DEFAULT '',
    change_id             INTEGER NOT NULL DEFAULT 0,
    event_id              TEXT NOT NULL DEFAULT ''
);
-- A record has at most one held conflict: while it is held nothing is
-- written to either side, so a second one could only be a duplicate, and
-- HeldConflict must not have to choose.
CREATE UNIQUE INDEX conflicts_held ON conflicts (object, billing_id) WHERE status = 'held';
-- Record lookups match either id, as for sync_log; the id suffix keeps each
-- index in "newest first" order.
CREATE INDEX conflicts_billing_id ON conflicts (billing_id, id);
CREATE INDEX conflicts_salesforce_id ON conflicts (salesforce_id, id);
CREATE INDEX conflicts_status ON conflicts (status, id);
