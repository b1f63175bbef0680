// Package billsync holds the domain of the billing ⇄ Salesforce sync: the
// records that move (billing entities, Salesforce sObjects), the changes
// queued between them, the sync log, settings, per-record sync state, error
// codes, and the small interfaces the engine needs (Store, Queue, CRM,
// Billing, ChangeSource).
//
// It must not import any other package of this module: every dependency in
// the tree points inward, towards this package. Concrete stores, clients and
// emulators live in subpackages named after what they provide.
package billsync
