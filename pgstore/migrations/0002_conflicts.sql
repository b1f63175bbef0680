-- Conflicts (D3): same-field changes on both sides, with both values and
-- what became of them. Times follow 0001: unix nanoseconds, NULL for zero.

CREATE TABLE conflicts (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                    bigint NOT NULL,
    object                text NOT NULL,
    billing_id            text NOT NULL,
    salesforce_id         text NOT NULL DEFAULT '',
    fields                jsonb NOT NULL DEFAULT '[]',
    policy                text NOT NULL DEFAULT '',
    status                text NOT NULL CHECK (status IN ('held', 'resolved')),
    winner                text NOT NULL DEFAULT '',
    billing_changed_at    bigint,
    salesforce_changed_at bigint,
    resolved_at           bigint,
    resolved_by           text NOT NULL DEFAULT '',
    change_id             bigint NOT NULL DEFAULT 0,
    event_id              text NOT NULL DEFAULT ''
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
