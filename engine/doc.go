// Package engine turns one queued change into writes on the other side:
// settings and switches (A1, A2, A5), stale and echo checks against the
// per-record sync state (B6), parents before children (B4), the
// Salesforce-to-billing path with create write-back (C2–C4), conflicts
// (D1–D3), deletes (H1), resync jobs and their per-record repairs (H2),
// and one sync-log entry per attempt (G1). Quote changes go to
// Config.Quotes. Claiming changes from the queue and moving stream
// events into it are package runner's.
//
// Each path reads what it needs, decides with a pure function of those
// values (planResync, classifyBillingChange, decide, the delete
// decisions; the tests exercise them table by table), and then applies
// what was decided. Every update of a synced Salesforce record carries the
// revision it was decided from, so Salesforce refuses it when a user
// edited the record meanwhile; a refused write is read again and decided
// anew (conditional.go). With that safety net a billing change of a record
// at a known revision is decided from the agreed values and written
// without a read. Where a first decision spares a read (an echo needs
// no billing read), the reads come in stages, each followed by its
// decision; no decision is taken in the middle of a write.
//
// The engine talks only to the root package's interfaces (Store, CRM,
// Billing); it never imports a concrete store, client or emulator, so
// every path runs in unit tests with the in-memory fakes of package mock.
package engine
