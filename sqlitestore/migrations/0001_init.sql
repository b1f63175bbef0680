-- Initial schema. Times are INTEGER unix nanoseconds in UTC (NULL for a
-- zero time), so they sort numerically and compare exactly; JSON is TEXT.

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE settings_audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    key       TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT NOT NULL
);

CREATE TABLE sync_state (
    object          TEXT NOT NULL,
    billing_id      TEXT NOT NULL,
    -- NULL, never '', when the record has no Salesforce twin yet, so the
    -- unique index below admits any number of unmapped records.
    salesforce_id   TEXT,
    account_id      TEXT NOT NULL DEFAULT '',
    billing_version INTEGER NOT NULL DEFAULT 0,
    agreed          TEXT NOT NULL DEFAULT 'null',
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (object, billing_id)
);
CREATE UNIQUE INDEX sync_state_salesforce_id ON sync_state (salesforce_id) WHERE salesforce_id IS NOT NULL;

CREATE TABLE sync_log (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    direction     TEXT NOT NULL DEFAULT '',
    object        TEXT NOT NULL DEFAULT '',
    billing_id    TEXT NOT NULL DEFAULT '',
    salesforce_id TEXT NOT NULL DEFAULT '',
    operation     TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    error_code    TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL DEFAULT '',
    attempt       INTEGER NOT NULL DEFAULT 0,
    latency_ns    INTEGER NOT NULL DEFAULT 0,
    event_id      TEXT NOT NULL DEFAULT '',
    change_id     INTEGER NOT NULL DEFAULT 0
);
-- Record lookups (G2) match either id; SQLite answers the OR with both
-- indexes. The id suffix keeps each index in page order for "newest first".
CREATE INDEX sync_log_billing_id ON sync_log (billing_id, id);
CREATE INDEX sync_log_salesforce_id ON sync_log (salesforce_id, id);
CREATE INDEX sync_log_at ON sync_log (at);

-- One row per pending or running change. AUTOINCREMENT so an id is never
-- reused: ids order a partition, and a resurrected change must land after
-- every change ever enqueued.
CREATE TABLE queue (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_key TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'running')),
    source        TEXT NOT NULL,
    object        TEXT NOT NULL,
    op            TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    payload       BLOB,
    occurred_at   INTEGER,
    enqueued_at   INTEGER NOT NULL,
    attempt       INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    next_at       INTEGER NOT NULL,  -- a pending change is not claimed before
    lease_until   INTEGER,           -- a running change is abandoned after
    -- due_at is set on the head (lowest id) of each partition only: next_at
    -- while pending, lease_until while running. Claim reads nothing but
    -- queue_due, so its cost follows the number of due partitions, not the
    -- backlog behind them.
    due_at        INTEGER
);
CREATE INDEX queue_partition ON queue (partition_key, id);
CREATE INDEX queue_due ON queue (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX queue_event_id ON queue (event_id);

-- Every event id ever enqueued, kept after its change is done so that a
-- redelivered webhook or replayed platform event is not applied twice.
CREATE TABLE seen_events (
    event_id TEXT PRIMARY KEY,
    seen_at  INTEGER NOT NULL
);
CREATE INDEX seen_events_seen_at ON seen_events (seen_at);

CREATE TABLE dead_letters (
    id            INTEGER PRIMARY KEY, -- the change's queue id
    partition_key TEXT NOT NULL,
    source        TEXT NOT NULL,
    object        TEXT NOT NULL,
    op            TEXT NOT NULL,
    record_id     TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    payload       BLOB,
    occurred_at   INTEGER,
    enqueued_at   INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    dead_at       INTEGER NOT NULL,
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_dead_at ON dead_letters (dead_at, id);
CREATE INDEX dead_letters_event_id ON dead_letters (event_id);

CREATE TABLE stream_checkpoints (
    channel    TEXT PRIMARY KEY,
    replay_id  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
