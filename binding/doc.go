// Package binding ties a store to the Salesforce org and the billing
// tenant it first synced with, and refuses any other (SPEC §4): a
// sandbox org refreshed from production carries production's billing ids,
// and a billsync pointed at it with production's store, or the other way
// round, must not write a single record.
//
// It must not open stores or clients itself: it reads the org and tenant
// through the small interfaces here and the binding through
// billsync.MetaStore, so it runs in a unit test with fakes.
package binding
