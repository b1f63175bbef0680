// Package bulk is a Salesforce Bulk API 2.0 client: ingest jobs (insert,
// update, upsert by external id, delete) fed with CSV and read back into
// per-record results, and query jobs whose CSV result sets are paged by
// locator into records.
//
// It rides on a salesforce/rest client's session and error rules and adds
// nothing of its own to authentication. It must not decide when Bulk pays
// over sObject Collections for anything but a whole-object read
// (Client.ReadAll's threshold); callers choose.
package bulk
