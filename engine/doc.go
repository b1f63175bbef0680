// Package engine turns one queued change into writes on the other side:
// settings and switches (A1, A2, A5), stale and echo checks against the
// per-record sync state (B6), parents before children (B4), the
// Salesforce-to-billing path with create write-back (C2–C4), and one
// sync-log entry per attempt (G1). The Runner claims changes from the
// queue and applies them partition by partition; the Listener moves
// Salesforce stream events into the queue with their replay checkpoint.
//
// The engine talks only to the root package's interfaces (Store, CRM,
// Billing, ChangeSource); it never imports a concrete store, client or
// emulator, so every path runs in unit tests with in-memory fakes.
package engine
