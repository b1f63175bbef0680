// Package mock holds the test doubles of billsync's interfaces, shared by
// the unit tests of every package, in the manner of WTF Dial's mock
// package: function-field mocks (ChangeSource, Queue, LogStore,
// ConflictStore, ConflictResolver, Resyncer, Processor, Observer), whose
// every method calls the field of the same name, for tests that script
// one exchange or make one call of a fake fail (a field set to a fake's
// method value passes that call through); and in-memory fakes where
// state matters — Org (a Salesforce org: billsync.CRM), Billing (a
// billing platform: billsync.Billing) and Store (every store interface, a
// working partitioned queue included: billsync.Store).
//
// The fakes keep to what the real systems do where billsync depends on
// it (upsert by external id with parents named by their external id,
// SOQL through the emulator's own parser and matcher, optimistic versions,
// one change in flight per partition), and the Store passes the stores'
// conformance suite. They are safe for concurrent use.
//
// It must not import testing or any package of billsync other than the
// root package, engine/attempt, the emulator's SOQL parser and the REST
// client (for its classification of record errors): it is imported by
// the tests of packages those depend on. It must not be used outside
// tests.
package mock
