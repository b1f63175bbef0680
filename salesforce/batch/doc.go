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
// It must not retry (the engine's backoff does), reorder the records of
// one call, or know anything of billing.
package batch
