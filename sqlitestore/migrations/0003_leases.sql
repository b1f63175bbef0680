-- Named leases: one holder at a time (the Salesforce event subscription
-- when several replicas share a database). expires_at is unix nanoseconds.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
