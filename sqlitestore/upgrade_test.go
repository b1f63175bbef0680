package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/storetest"
)

// TestUpgradesFromEveryVersion: a store written by each earlier schema
// version opens and reads back whole (storetest.Upgrades).
func TestUpgradesFromEveryVersion(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	storetest.Upgrades(t, storetest.UpgradeEngine{Migrations: ms,
		Fresh: func(t *testing.T) (*sql.DB, func() (billsync.Store, error)) {
			path := filepath.Join(t.TempDir(), "billsync.db")
			db, err := sql.Open(driverName, dsn(path, "_pragma=foreign_keys(1)"))
			if err != nil {
				t.Fatal(err)
			}
			return db, func() (billsync.Store, error) { return Open(context.Background(), path, Options{}) }
		}})
}
