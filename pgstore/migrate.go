package pgstore

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations lists the embedded files in version order (see
// sqlstore.Migrations). The numbers follow sqlitestore's, so both engines
// report the same schema version for the same features.
func migrations() ([]sqlstore.Migration, error) {
	return sqlstore.Migrations(migrationFS, "migrations/*.sql")
}

// migrateLockKey names the session advisory lock a migration run holds.
// Advisory locks are per database, so the key includes the schema: two
// deployments in different schemas of one database migrate independently.
const migrateLockKey = `hashtextextended('billsync.migrate:' || coalesce(current_schema(), ''), 0)`

// migrate applies every migration not yet recorded in schema_migrations.
// The whole run holds a session advisory lock, so replicas starting
// together migrate once: the others wait, then find nothing to do. Each
// migration runs in its own transaction together with its record, so a
// crash leaves the schema at a whole version.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("postgres store: %w", err)
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return dbErr("migrate", err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(`+migrateLockKey+`)`); err != nil {
		conn.Release()
		return dbErr("migrate: lock", err)
	}
	defer func() {
		// A session lock outlives the transaction: the connection goes
		// back to the pool only once it is unlocked, or is closed.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock(`+migrateLockKey+`)`); err != nil {
			_ = conn.Hijack().Close(uctx)
			return
		}
		conn.Release()
	}()

	c := conn.Conn()
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text NOT NULL,
		applied_at bigint NOT NULL
	)`); err != nil {
		return dbErr("migrate", err)
	}
	current, err := schemaVersion(ctx, c)
	if err != nil {
		return err
	}
	if current > len(ms) {
		// Running an older binary against a newer schema could write rows
		// the newer code misreads; refuse instead.
		return billsync.Errorf(billsync.EINTERNAL, "postgres store: the database has schema version %d, newer than this build knows (%d); upgrade billsync", current, len(ms))
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// A file holds several statements: the simple protocol runs
			// them in one round trip.
			if _, err := tx.Exec(ctx, m.SQL, pgx.QueryExecModeSimpleProtocol); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, sqlstore.InsertMigrationSQL,
				m.Version, m.Name, s.now().UnixNano())
			return err
		})
		if err != nil {
			return dbErr("migrate "+m.Name, err)
		}
		s.log.Info("postgres store: applied migration", "migration", m.Name)
	}
	return nil
}

func schemaVersion(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (int, error) {
	var v *int
	if err := q.QueryRow(ctx, sqlstore.SchemaVersionSQL).Scan(&v); err != nil {
		return 0, dbErr("schema version", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// SchemaVersion is the highest applied migration.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	return schemaVersion(ctx, s.pool)
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}
