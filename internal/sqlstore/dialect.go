package sqlstore

import (
	"context"
	"database/sql"
)

// Dialect is what differs between the engines a Store runs on. Everything
// else, the SQL included, is the same for both: both SQLite drivers and
// pgx accept $n placeholders, and the statements here use only syntax the
// two engines run the same way. A field left zero means the engine needs
// nothing there.
type Dialect struct {
	// Name begins every error and log message, e.g. "sqlite store".
	Name string

	// ClaimSQL leases the due partition heads, $1 being the lease end, $2
	// now and $3 the most to take: it sets state 'running', attempt + 1,
	// fence + 1 and lease_until = due_at = $1, and returns ClaimColumns. It must
	// hand a head to one claimer only (SQLite: the single writer;
	// PostgreSQL: FOR UPDATE SKIP LOCKED).
	ClaimSQL string
	// FenceLock follows the query that reads a change's fence before a
	// fenced write, and keeps a claim from bumping the fence until the
	// write commits (PostgreSQL: FOR SHARE). An engine with a single
	// writer leaves it empty.
	FenceLock string
	// IDsInJSON selects, as one integer column, the elements of the JSON
	// array of ids passed as $2 (ClaimRuns hands its heads over this way,
	// so that one statement finds every run's followers).
	IDsInJSON string
	// InsertChangeSQL stores ChangeArgs at the tail of their partition and
	// returns the new id, unless their event id ($6, when not empty) was
	// seen before: then it returns no row.
	InsertChangeSQL string
	// SeenSQL, when set, runs right after InsertChangeSQL for a change
	// with an event id and records event id $1 as seen at $2, if it was
	// not. An engine whose InsertChangeSQL records the id itself leaves it
	// empty.
	SeenSQL string
	// JSONCast follows the placeholder of a JSON string stored into a JSON
	// column, e.g. "::text::jsonb".
	JSONCast string

	// LockPartition, when set, is the SQL expression that locks the
	// partition named by the SQL expression p until the transaction ends.
	// Every write that adds or removes rows of a partition takes it before
	// it draws an id or recomputes the head, so that the head bookkeeping
	// is race-free. An engine with a single writer leaves it nil.
	LockPartition func(p string) string
	// LockSettingsSQL, when set, is run first by every settings writer, so
	// that an audit entry's old value is the one its write replaced.
	LockSettingsSQL string
	// LockMigrations, when set, takes the lock a migration run holds on
	// conn, so that processes opening one database together migrate it
	// once; unlock releases it. An engine whose write transactions exclude
	// each other leaves it nil (each migration re-checks its record).
	LockMigrations func(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
	// Types are the engine's column types for the shared schema.
	Types SchemaTypes

	// GroupCommit makes write transactions of concurrent callers share one
	// commit, each in its own savepoint: for an engine with one writer
	// whose every commit costs an fsync.
	GroupCommit bool
	// Pipeline, when set, runs the queries of a batch (statements whose
	// arguments do not depend on each other's results) in the transaction
	// open on conn, in order and in one round trip, filling in each
	// Query's results. Without it they run one after another, a statement
	// that repeats prepared once: an embedded engine has no round trips
	// to save.
	Pipeline func(ctx context.Context, conn *sql.Conn, batch []*Query) error
	// Prepare makes the store prepare the statements each change runs
	// once, at Open, for a driver that otherwise parses a statement's SQL
	// on every call (see stmt.go).
	Prepare bool
	// NoInterrupt runs the statements of write transactions and the
	// point lookups on the read pool without watching their caller's
	// context: for a driver that spends a goroutine on every statement
	// run under a context that can end (modernc.org/sqlite), where a
	// statement takes microseconds and so is not worth interrupting. A
	// transaction, and each of its statements, still starts only while
	// the context is live. An engine whose calls can hang on a network
	// leaves it off.
	NoInterrupt bool
	// MaxAttempts bounds how often a transaction runs when Retry allows it
	// (1 when zero).
	MaxAttempts int
	// Retry reports whether a transaction that failed with err may simply
	// run again (a serialisation failure or deadlock). Nil: never.
	Retry func(err error) bool
	// Code returns the billsync error a driver error stands for (ECONFLICT
	// for a unique violation, EUNAVAILABLE for a busy or unreachable
	// database), or nil when it stands for none.
	Code func(err error) error
}
