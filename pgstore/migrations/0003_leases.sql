-- Named leases: one holder at a time (the Salesforce event subscription
-- when several replicas share a database). expires_at is unix nanoseconds.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    owner      text NOT NULL,
    expires_at bigint NOT NULL
);
