// Package batch merges the Salesforce writes and reads of many
// partitions into sObject Collections calls of up to 200 records (DESIGN
// "Planning for speed"): each change still asks for its own record, and
// gets its own result back, so one rejected record fails only its change.
//
// A Batcher is a billsync.CRM in front of the real client. A request waits
// at most MaxWait for company; a full batch goes at once. Per-partition
// order is the engine's business: a partition has at most one change in
// flight, so a batch never holds two writes one of which depends on the
// other.
//
// Large work goes through Bulk API 2.0 (BulkOptions, bulk.go). While the
// runner works through a backlog with its bulk workers (Wide), a level's
// writes of one object and one operation wait for each other instead of
// leaving 200 at a time, and a flush of at least BulkThreshold of them
// (salesforce.bulkIngestThreshold, 2,000) is sent as one ingest job.
// Each row's outcome goes back to its change exactly as a collections
// result would, so the engine retries or dead-letters it by its code;
// rows the job left unprocessed (it failed or was aborted) were not
// applied and go through collections. Deletes and reads stay on
// collections.
//
// Concurrency with Salesforce users is the same on both paths, because
// the guard is in the row, not in the transport: every update of a
// synced record carries BillingSyncRevision__c, which the trigger checks
// as each row is applied (Salesforce runs triggers for Bulk loads, 200
// rows at a time), so a row whose record a user edited after billsync
// decided is refused as stale and the engine reads it again and
// reconciles; and the external id is unique, so an insert of a record a
// user created meanwhile fails DUPLICATE_VALUE instead of doubling it.
// Bulk therefore carries guarded updates too; no HTTP precondition
// (If-Unmodified-Since) is relied on by either path. TestBulkUpdateKeeps-
// TheRevisionGuard and TestBulkInsertRefusesATwinCreatedMeanwhile hold a
// job between upload and apply with the emulator's write hook to prove it.
//
// It must not retry (the engine's backoff does), reorder the records of
// one call, or know anything of billing; a Bulk job's rows may be sent in
// any order (grouped by parent, against row-lock contention), as each
// result is joined back to its row.
package batch
