// Package storetest is the conformance suite every billsync.Store
// implementation must pass (sqlitestore and pgstore): one subtest per
// documented behaviour of store.go, each against a fresh store.
//
// When the Store contract changes, the change is made here first, so that
// the engines cannot drift apart. It must not depend on any concrete store
// or on a controllable clock: it drives stores through billsync.Store alone
// and waits for time-based outcomes (leases, retry times) by polling.
package storetest
