package pgstore

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the pgx driver for the raw fixture connection

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/storetest"
)

// TestUpgradesFromEveryVersion: a database written by each earlier schema
// version opens and reads back whole (storetest.Upgrades).
func TestUpgradesFromEveryVersion(t *testing.T) {
	pgtest.BaseDSN(t)
	ms, err := sqlstore.Schema(types)
	if err != nil {
		t.Fatal(err)
	}
	storetest.Upgrades(t, storetest.UpgradeEngine{Migrations: ms,
		Fresh: func(t *testing.T) (*sql.DB, func() (billsync.Store, error)) {
			dsn := pgtest.DSN(t)
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			return db, func() (billsync.Store, error) { return Open(context.Background(), dsn, Options{}) }
		}})
}
