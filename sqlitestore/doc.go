// Package sqlitestore is the embedded billsync.Store: settings, sync state,
// the sync log, conflicts and the durable partitioned queue in one SQLite
// file, through the pure-Go modernc.org/sqlite driver. It is Open, the
// SQLite dialect and the SQLite migrations; the store itself is
// internal/sqlstore's, shared with pgstore.
//
// It is meant for a single billsync process (plus short-lived CLI commands
// against the same file); several replicas need the PostgreSQL store. Every
// write goes through one connection in an immediate transaction, concurrent
// writes share a commit (group commit), reads use a separate read-only
// pool, and each commit is fsynced (synchronous=FULL), so a change
// acknowledged to a webhook sender survives a crash of the process and of
// the machine.
//
// It must not import other billsync packages besides the root package and
// internal/sqlstore, hold business rules (what a change means is the
// engine's business), or expose *sql.DB: callers see only billsync.Store
// and the few extras on *Store.
package sqlitestore
