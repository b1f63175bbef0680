// Package rest is billsync's Salesforce REST client: it logs in with
// OAuth 2.0 (password, client credentials or JWT bearer), keeps the session
// until Salesforce answers 401, and implements billsync.CRM over the REST
// API — sObject Collections for writes (up to 200 records a call), SOQL
// with nextRecordsUrl paging, describe with a cache — plus the Session
// interface the CometD subscriber borrows its session from.
//
// Every failure Salesforce answers becomes a *billsync.RemoteError with
// Salesforce's own error code and its Transient and RateLimited flags, and
// each record's failure in a write result carries the same flags
// (billsync.FieldError): this package is where Salesforce's error codes are
// known (TransientCode, RateLimitedCode), so the engine acts on flags, not
// codes. Every response's Sforce-Limit-Info header updates Limits.
//
// What it must not do: decide policy. It does not retry transient failures
// (the engine backs off and dead-letters, SPEC H3); the one retry it makes
// is after a 401, with a fresh session, and only once. It knows nothing of
// field mappings or billing entities, and it never sends money through
// float64: billsync.Money and json.Number values are written as JSON
// numbers digit for digit.
package rest
