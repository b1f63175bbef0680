package pgstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"

	"github.com/billsync/billsync/internal/sqlstore"
)

// types are PostgreSQL's column types for the shared schema (see
// sqlstore.Schema). Times are bigint unix nanoseconds: timestamptz keeps
// only microseconds and the stores must round-trip the same values. JSON
// read back byte for byte is text; JSON only billsync reads is jsonb.
// Replicas starting together migrate once: the run holds a session
// advisory lock, so the others wait, then find nothing to do.
var types = sqlstore.SchemaTypes{
	Identity:  "bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
	Int64:     "bigint",
	Int32:     "integer",
	Text:      "text",
	Bytes:     "bytea",
	JSON:      "jsonb",
	BigEndian: "int8send(%s)",
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
func LatestSchemaVersion() int { return sqlstore.LatestSchemaVersion() }
