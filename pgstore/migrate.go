package pgstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"time"

	"github.com/billsync/billsync/internal/sqlstore"
)

// migrationFS holds the schema, one numbered file a version (see
// sqlstore.Migrations). The numbers follow sqlitestore's, so both engines
// report the same schema version for the same features. Replicas starting
// together migrate once: the run holds a session advisory lock, so the
// others wait, then find nothing to do.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations lists the embedded files in version order.
func migrations() ([]sqlstore.Migration, error) {
	return sqlstore.Migrations(migrationFS, "migrations/*.sql")
}

// migrateLockKey names the session advisory lock a migration run holds.
const migrateLockKey = `hashtextextended('billsync.migrate:' || coalesce(current_schema(), ''), 0)`

// lockMigrations holds the migration lock on conn, the connection the
// migrations run on.
func lockMigrations(ctx context.Context, conn *sql.Conn) (unlock func(), err error) {
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+migrateLockKey+`)`); err != nil {
		return nil, err
	}
	return func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(uctx, `SELECT pg_advisory_unlock(`+migrateLockKey+`)`); err != nil {
			// A session lock outlives transactions: a connection that may
			// still hold it is closed instead of going back to the pool.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}, nil
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}
