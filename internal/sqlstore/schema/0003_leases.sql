-- Named leases: one holder at a time (the Salesforce event subscription
-- when several replicas share a database). expires_at is unix nanoseconds.
CREATE TABLE leases (
    name       {{.Text}} PRIMARY KEY,
    owner      {{.Text}} NOT NULL,
    expires_at {{.Int64}} NOT NULL
);
