package sqlitestore

import (
	"embed"

	"github.com/billsync/billsync/internal/sqlstore"
)

// migrationFS holds the schema, one numbered file a version (see
// sqlstore.Migrations). Each migration's immediate transaction holds the
// write lock, so two processes opening a new file at once migrate it once.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrations lists the embedded files in version order.
func migrations() ([]sqlstore.Migration, error) {
	return sqlstore.Migrations(migrationFS, "migrations/*.sql")
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}
