package sqlitestore

import (
	"context"
	"embed"
	"fmt"

	"github.com/billsync/billsync/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations lists the embedded files in version order (see
// sqlstore.Migrations).
func migrations() ([]sqlstore.Migration, error) {
	return sqlstore.Migrations(migrationFS, "migrations/*.sql")
}

// migrate brings the schema up to date. Each migration's immediate
// transaction holds the write lock, so two processes opening a new file at
// once migrate it once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("sqlite store: %w", err)
	}
	return s.Migrate(ctx, ms)
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}
