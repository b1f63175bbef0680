// Package pgtest gives tests a PostgreSQL schema of their own, for the
// pgstore tests and for end-to-end tests that run billsync on PostgreSQL.
//
// The database comes from BILLSYNC_TEST_POSTGRES_DSN. Without it a test
// skips with a message saying so, unless BILLSYNC_CI=1, where it fails:
// CI must not pass by skipping. It must not be imported by non-test code.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding the test database's DSN,
// e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const EnvDSN = "BILLSYNC_TEST_POSTGRES_DSN"

// BaseDSN returns the test database's DSN, or skips t (fails it under
// BILLSYNC_CI=1) when none is configured.
func BaseDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		example := " (e.g. " + EnvDSN + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatal(EnvDSN + " is not set, and BILLSYNC_CI=1 requires the PostgreSQL tests to run" + example)
		}
		t.Skip(EnvDSN + " is not set: skipping the PostgreSQL test" + example)
	}
	return dsn
}

// DSN creates a fresh schema t_<random> in the test database, drops it
// when t ends, and returns a DSN whose search_path selects it, so that
// parallel tests never see each other's tables.
func DSN(t testing.TB) string {
	t.Helper()
	base := BaseDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", EnvDSN, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(base, schema)
}

// WithSearchPath returns dsn with its search_path set to schema, for both
// URL and key=value DSNs.
func WithSearchPath(dsn, schema string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return dsn + " search_path=" + schema
}
