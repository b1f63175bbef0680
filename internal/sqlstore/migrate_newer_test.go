package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, for the raw connection
	_ "modernc.org/sqlite"             // the sqlite driver, for the raw connection

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
	"github.com/billsync/billsync/pgstore"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/sqlitestore"
)

// TestOpenRefusesNewerSchema: on both engines, a store a newer billsync
// migrated is refused at Open, naming both versions, and left as it was.
func TestOpenRefusesNewerSchema(t *testing.T) {
	type engine struct {
		raw  func(t *testing.T) (driver, dsn string)
		open func(ctx context.Context, dsn string) (billsync.Store, error)
	}
	engines := map[string]engine{
		"sqlite": {
			raw: func(t *testing.T) (string, string) {
				return "sqlite", filepath.Join(t.TempDir(), "b.db")
			},
			open: func(ctx context.Context, path string) (billsync.Store, error) {
				return sqlitestore.Open(ctx, strings.TrimPrefix(path, "file:"), sqlitestore.Options{})
			},
		},
		"postgres": {
			raw: func(t *testing.T) (string, string) { return "pgx", pgtest.DSN(t) },
			open: func(ctx context.Context, dsn string) (billsync.Store, error) {
				return pgstore.Open(ctx, dsn, pgstore.Options{})
			},
		},
	}
	for name, e := range engines {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			driver, dsn := e.raw(t)
			s, err := e.open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, sqlstore.InsertMigrationSQL, 9999, "9999_future", 0); err != nil {
				t.Fatal(err)
			}
			_, err = e.open(ctx, dsn)
			latest := sqlstore.LatestSchemaVersion()
			if err == nil || !strings.Contains(err.Error(), "schema version 9999") || !strings.Contains(err.Error(), fmt.Sprintf("(%d)", latest)) {
				t.Fatalf("Open on a newer schema = %v, want both 9999 and %d named", err, latest)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != latest+1 {
				t.Fatalf("schema_migrations has %d rows after the refusal, want %d (%v)", n, latest+1, err)
			}
		})
	}
}
