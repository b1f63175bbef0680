-- Initial schema, the PostgreSQL twin of sqlitestore's 0001. Times are
-- bigint unix nanoseconds in UTC (NULL for a zero time): timestamptz keeps
-- only microseconds and the stores must round-trip the same values. JSON
-- the callers read back byte for byte (settings, payloads) is text or
-- bytea; JSON only billsync reads (agreed values) is jsonb.

CREATE TABLE settings (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at bigint NOT NULL,
    updated_by text NOT NULL
);

CREATE TABLE settings_audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        bigint NOT NULL,
    actor     text NOT NULL,
    key       text NOT NULL,
    old_value text,
    new_value text NOT NULL
);

CREATE TABLE sync_state (
    object          text NOT NULL,
    billing_id      text NOT NULL,
    -- NULL, never '', when the record has no Salesforce twin yet, so the
    -- unique index below admits any number of unmapped records.
    salesforce_id   text,
    account_id      text NOT NULL DEFAULT '',
    billing_version bigint NOT NULL DEFAULT 0,
    agreed          jsonb NOT NULL DEFAULT 'null',
    updated_at      bigint NOT NULL,
    PRIMARY KEY (object, billing_id)
);
CREATE UNIQUE INDEX sync_state_salesforce_id ON sync_state (salesforce_id) WHERE salesforce_id IS NOT NULL;

CREATE TABLE sync_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            bigint NOT NULL,
    direction     text NOT NULL DEFAULT '',
    object        text NOT NULL DEFAULT '',
    billing_id    text NOT NULL DEFAULT '',
    salesforce_id text NOT NULL DEFAULT '',
    operation     text NOT NULL DEFAULT '',
    outcome       text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT '',
    error_code    text NOT NULL DEFAULT '',
    message       text NOT NULL DEFAULT '',
    attempt       integer NOT NULL DEFAULT 0,
    latency_ns    bigint NOT NULL DEFAULT 0,
    event_id      text NOT NULL DEFAULT '',
    change_id     bigint NOT NULL DEFAULT 0
);
-- Record lookups (G2) match either id: a BitmapOr over both indexes. The id
-- suffix keeps each index in page order for "newest first".
CREATE INDEX sync_log_billing_id ON sync_log (billing_id, id);
CREATE INDEX sync_log_salesforce_id ON sync_log (salesforce_id, id);
CREATE INDEX sync_log_at ON sync_log (at);

-- One row per pending or running change. An identity is never reused: ids
-- order a partition, and a resurrected change must land after every change
-- ever enqueued.
CREATE TABLE queue (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    partition_key text NOT NULL,
    state         text NOT NULL CHECK (state IN ('pending', 'running')),
    source        text NOT NULL,
    object        text NOT NULL,
    op            text NOT NULL,
    record_id     text NOT NULL,
    event_id      text NOT NULL,
    payload       bytea,
    occurred_at   bigint,
    enqueued_at   bigint NOT NULL,
    attempt       integer NOT NULL DEFAULT 0,
    last_error    text NOT NULL DEFAULT '',
    next_at       bigint NOT NULL,  -- a pending change is not claimed before
    lease_until   bigint,           -- a running change is abandoned after
    -- due_at is set on the head (lowest id) of each partition only: next_at
    -- while pending, lease_until while running. Claim reads nothing but
    -- queue_due, so its cost follows the number of due partitions, not the
    -- backlog behind them.
    due_at        bigint
);
CREATE INDEX queue_partition ON queue (partition_key, id);
CREATE INDEX queue_due ON queue (due_at, id) WHERE due_at IS NOT NULL;
CREATE INDEX queue_event_id ON queue (event_id);

-- Every event id ever enqueued, kept after its change is done so that a
-- redelivered webhook or replayed platform event is not applied twice.
CREATE TABLE seen_events (
    event_id text PRIMARY KEY,
    seen_at  bigint NOT NULL
);
CREATE INDEX seen_events_seen_at ON seen_events (seen_at);

CREATE TABLE dead_letters (
    id            bigint PRIMARY KEY, -- the change's queue id
    partition_key text NOT NULL,
    source        text NOT NULL,
    object        text NOT NULL,
    op            text NOT NULL,
    record_id     text NOT NULL,
    event_id      text NOT NULL,
    payload       bytea,
    occurred_at   bigint,
    enqueued_at   bigint NOT NULL,
    attempt       integer NOT NULL,
    last_error    text NOT NULL DEFAULT '',
    dead_at       bigint NOT NULL,
    error_code    text NOT NULL DEFAULT '',
    error_message text NOT NULL DEFAULT ''
);
CREATE INDEX dead_letters_dead_at ON dead_letters (dead_at, id);
CREATE INDEX dead_letters_event_id ON dead_letters (event_id);

CREATE TABLE stream_checkpoints (
    channel    text PRIMARY KEY,
    replay_id  bigint NOT NULL,
    updated_at bigint NOT NULL
);

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);
