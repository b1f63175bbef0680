-- Initial schema, for every engine: column types are template fields each
-- engine fills in (sqlstore.SchemaTypes). Times are 64-bit unix
-- nanoseconds in UTC (NULL for a zero time), so they sort numerically,
-- compare exactly and round-trip on every engine.

CREATE TABLE settings (
    key        {{.Text}} PRIMARY KEY,
    value      {{.Text}} NOT NULL,
    updated_at {{.Int64}} NOT NULL,
    updated_by {{.Text}} NOT NULL
);

CREATE TABLE settings_audit (
    id        {{.Identity}},
    at        {{.Int64}} NOT NULL,
    actor     {{.Text}} NOT NULL,
    key       {{.Text}} NOT NULL,
    old_value {{.Text}},
    new_value {{.Text}} NOT NULL
);

CREATE TABLE sync_state (
    object          {{.Text}} NOT NULL,
    billing_id      {{.Text}} NOT NULL,
    -- NULL, never '', when the record has no Salesforce twin yet, so the
    -- unique index below admits any number of unmapped records.
    salesforce_id   {{.Text}},
    account_id      {{.Text}} NOT NULL DEFAULT '',
    billing_version {{.Int64}} NOT NULL DEFAULT 0,
    agreed          {{.JSON}} NOT NULL DEFAULT 'null',
    updated_at      {{.Int64}} NOT NULL,
    PRIMARY KEY (object, billing_id)
);
CREATE UNIQUE INDEX sync_state_salesforce_id ON sync_state (salesforce_id) WHERE salesforce_id IS NOT NULL;

CREATE TABLE sync_log (
    id            {{.Identity}},
    at            {{.Int64}} NOT NULL,
    direction     {{.Text}} NOT NULL DEFAULT '',
    object        {{.Text}} NOT NULL DEFAULT '',
    billing_id    {{.Text}} NOT NULL DEFAULT '',
    salesforce_id {{.Text}} NOT NULL DEFAULT '',
    operation     {{.Text}} NOT NULL DEFAULT '',
    outcome       {{.Text}} NOT NULL DEFAULT '',
    reason        {{.Text}} NOT NULL DEFAULT '',
    error_code    {{.Text}} NOT NULL DEFAULT '',
    message       {{.Text}} NOT NULL DEFAULT '',
    attempt       {{.Int32}} NOT NULL DEFAULT 0,
    latency_ns    {{.Int64}} NOT NULL DEFAULT 0,
    event_id      {{.Text}} NOT NULL DEFAULT '',
    change_id     {{.Int64}} NOT NULL DEFAULT 0
);
-- Record lookups (G2) match either id, answered from both indexes. The id
-- suffix keeps each index in page order for "newest first".
CREATE INDEX sync_log_billing_id ON sync_log (billing_id, id);
CREATE INDEX sync_log_salesforce_id ON sync_log (salesforce_id, id);
CREATE INDEX sync_log_at ON sync_log (at);

-- One row per pending or running change. An identity is never reused: ids
-- order a partition, and a resurrected change must land after every change
-- ever enqueued.
CREATE TABLE queue (
    id            {{.Identity}},
    partition_key {{.Text}} NOT NULL,
    state         {{.Text}} NOT NULL CHECK (state IN ('pending', 'running')),
    source        {{.Text}} NOT NULL,
    object        {{.Text}} NOT NULL,
    op            {{.Text}} NOT NULL,
    record_id     {{.Text}} NOT NULL,
    event_id      {{.Text}} NOT NULL,
    payload       {{.Bytes}},
    occurred_at   {{.Int64}},
    enqueued_at   {{.Int64}} NOT NULL,
    attempt       {{.Int32}} NOT NULL DEFAULT 0,
    last_error    {{.Text}} NOT NULL DEFAULT '',
    next_at       {{.Int64}} NOT NULL,  -- a pending change is not claimed before
    lease_until   {{.Int64}},           -- a running change is abandoned after
    -- due_at is set on the head (lowest id) of each partition only: next_at
    -- while pending, lease_until while running. Claim reads nothing but
    -- queue_due, so its cost follows the number of due partitions, not the
    -- backlog behind them.
    due_at        {{.Int64}}
);
CREATE INDEX queue_partition ON queue (partition_key, id);
CREATE INDEX queue_due ON queue (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX queue_event_id ON queue (event_id);

-- Every event id ever enqueued, kept after its change is done so that a
-- redelivered webhook or replayed platform event is not applied twice.
CREATE TABLE seen_events (
    event_id {{.Text}} PRIMARY KEY,
    seen_at  {{.Int64}} NOT NULL
);
CREATE INDEX seen_events_seen_at ON seen_events (seen_at);

CREATE TABLE dead_letters (
    id            {{.Int64}} PRIMARY KEY, -- the change's queue id
    partition_key {{.Text}} NOT NULL,
    source        {{.Text}} NOT NULL,
    object        {{.Text}} NOT NULL,
    op            {{.Text}} NOT NULL,
    record_id     {{.Text}} NOT NULL,
    event_id      {{.Text}} NOT NULL,
    payload       {{.Bytes}},
    occurred_at   {{.Int64}},
    enqueued_at   {{.Int64}} NOT NULL,
    attempt       {{.Int32}} NOT NULL,
    last_error    {{.Text}} NOT NULL DEFAULT '',
    dead_at       {{.Int64}} NOT NULL,
    error_code    {{.Text}} NOT NULL DEFAULT '',
    error_message {{.Text}} NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_dead_at ON dead_letters (dead_at, id);
CREATE INDEX dead_letters_event_id ON dead_letters (event_id);

CREATE TABLE stream_checkpoints (
    channel    {{.Text}} PRIMARY KEY,
    replay_id  {{.Int64}} NOT NULL,
    updated_at {{.Int64}} NOT NULL
);

CREATE TABLE meta (
    key   {{.Text}} PRIMARY KEY,
    value {{.Text}} NOT NULL
);
