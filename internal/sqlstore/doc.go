// Package sqlstore holds what the SQL stores (sqlitestore and pgstore)
// share: the engine-independent half of billsync.Store on a SQL database.
// That is input validation, the WHERE clauses and keyset paging of Logs and
// Conflicts, page cursors and limits, the conversion of times to and from
// stored unix nanoseconds, the JSON encoding of stored values, the
// destinations rows are scanned into and their conversion to billsync
// types, SQL text both engines run unchanged, and the listing of embedded
// migration files.
//
// SQL built here uses $n placeholders, which both SQLite and PostgreSQL
// accept, and only syntax both engines run the same way. What is genuinely
// dialect-specific (locking, FOR UPDATE SKIP LOCKED, advisory locks, jsonb
// casts, batching) stays in the store that needs it.
//
// It must not import a database driver (or database/sql), run queries or do
// any other I/O, or hold business rules: its functions are pure, and the
// stores execute what it builds. It is internal so that its API can follow
// the stores without a compatibility promise.
package sqlstore
