// Package retention keeps the sync log to its retention period (G3): a
// running billsync prunes entries older than logRetention at start and
// then every hour.
//
// It must not know a store's engine or schema: it prunes through
// Store.PruneLogs, which each store implements in its own dialect.
package retention
