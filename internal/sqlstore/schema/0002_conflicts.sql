-- Conflicts (D3): same-field changes on both sides, with both values and
-- what became of them. Times follow 0001: unix nanoseconds, NULL for zero.

CREATE TABLE conflicts (
    id                    {{.Identity}},
    at                    {{.Int64}} NOT NULL,
    object                {{.Text}} NOT NULL,
    billing_id            {{.Text}} NOT NULL,
    salesforce_id         {{.Text}} NOT NULL DEFAULT '',
    fields                {{.JSON}} NOT NULL DEFAULT '[]',
    policy                {{.Text}} NOT NULL DEFAULT '',
    status                {{.Text}} NOT NULL CHECK (status IN ('held', 'resolved')),
    winner                {{.Text}} NOT NULL DEFAULT '',
    billing_changed_at    {{.Int64}},
    salesforce_changed_at {{.Int64}},
    resolved_at           {{.Int64}},
    resolved_by           {{.Text}} NOT NULL DEFAULT '',
    change_id             {{.Int64}} NOT NULL DEFAULT 0,
    event_id              {{.Text}} NOT NULL DEFAULT ''
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
