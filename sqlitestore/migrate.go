package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations lists the embedded files in version order (see
// sqlstore.Migrations).
func migrations() ([]sqlstore.Migration, error) {
	return sqlstore.Migrations(migrationFS, "migrations/*.sql")
}

// migrate applies every migration not yet recorded in schema_migrations,
// each in its own transaction together with its record, so a crash leaves
// the schema at a whole version. The immediate transaction holds the write
// lock, so two processes opening a new file at once migrate it once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return dbErr("migrate", err)
	}
	current, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if current > len(ms) {
		// Running an older binary against a newer schema could write rows
		// the newer code misreads; refuse instead.
		return billsync.Errorf(billsync.EINTERNAL, "sqlite store: %s has schema version %d, newer than this build knows (%d); upgrade billsync", s.path, current, len(ms))
	}
	for _, m := range ms {
		if m.Version <= current {
			continue
		}
		err := s.tx(ctx, "migrate "+m.Name, func(tx *sql.Tx) error {
			var done int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&done); err != nil {
				return err
			}
			if done > 0 {
				return nil // another process got there first
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, sqlstore.InsertMigrationSQL,
				m.Version, m.Name, s.now().UnixNano())
			return err
		})
		if err != nil {
			return err
		}
		s.log.Info("sqlite store: applied migration", "path", s.path, "migration", m.Name)
	}
	return nil
}

// SchemaVersion is the highest applied migration (0 for a new file).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.wdb.QueryRowContext(ctx, sqlstore.SchemaVersionSQL).Scan(&v); err != nil {
		return 0, dbErr("schema version", err)
	}
	return int(v.Int64), nil
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}
