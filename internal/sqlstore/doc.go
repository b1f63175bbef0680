// Package sqlstore is billsync.Store on a SQL database through
// database/sql: the one implementation of settings, sync state, the sync
// log, conflicts, named leases and the durable partitioned queue that both
// sqlitestore and pgstore are. Those packages open their pools and give
// Open a Dialect (claim SQL, locks, JSON casts, error translation, group
// commit, pipelining) and their migrations, and embed the Store they get
// back.
//
// SQL here uses $n placeholders, which both SQLite drivers and pgx accept,
// and only syntax both engines run the same way; what an engine does
// differently is a field of Dialect, not a branch on the engine's name.
// Besides the Store, the package holds the pure pieces it is built from
// (validation, WHERE clauses and keyset paging, cursors, time and JSON
// conversions, scan destinations), each tested on its own.
//
// It must not import a database driver (the engines' packages do), hold
// business rules (what a change means is the engine's business), or hand
// out its pools. It is internal so that its API can follow the stores
// without a compatibility promise.
package sqlstore
