package sqlitestore

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// A file written by a build that knew only 0001 keeps its data and gains
// the conflicts table when a newer build opens it.
func TestMigrateV1FileToConflicts(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "v1.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 || ms[1].Name != "0002_conflicts" {
		t.Fatalf("migrations = %v, want 0002_conflicts second", ms)
	}

	db, err := sql.Open(driverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
		ms[0].SQL,
		`INSERT INTO schema_migrations VALUES (1, '0001_init', 0)`,
		`INSERT INTO sync_state (object, billing_id, salesforce_id, updated_at) VALUES ('account', 'acc_1', '001A', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			_ = db.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTest(t, path, Options{})
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, LatestSchemaVersion())
	}
	st, err := s.SyncState(ctx, billsync.ObjectAccount, "acc_1")
	if err != nil || st.SalesforceID != "001A" {
		t.Fatalf("sync state after migrating = %+v, %v", st, err)
	}
	c := &billsync.Conflict{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Status: billsync.ConflictHeld}
	if err := s.AddConflict(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountHeld(ctx); err != nil || n != 1 {
		t.Fatalf("CountHeld = %d, %v", n, err)
	}
}

func TestConflictQueriesUseIndexes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "c.db"), Options{})
	ctx := t.Context()
	// Give the planner statistics resembling a long history: mostly
	// resolved conflicts, a few held.
	for i := range 500 {
		c := &billsync.Conflict{Time: time.Unix(int64(i), 0), Object: billsync.ObjectAccount,
			BillingID: fmt.Sprintf("acc_%d", i%50), SalesforceID: fmt.Sprintf("001%03d", i%50),
			Status: billsync.ConflictResolved, Winner: billsync.SideBilling}
		if i >= 490 {
			c.Status, c.Winner = billsync.ConflictHeld, ""
		}
		if err := s.AddConflict(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.wdb.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]struct {
		sql   string
		args  []any
		index string
	}{
		"held":  {sqlstore.HeldConflictSQL, []any{"account", "acc_1"}, "conflicts_held"},
		"count": {sqlstore.CountHeldSQL, nil, "INDEX conflicts_"},
	} {
		rows, err := s.wdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q.sql, q.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, q.index) || strings.Contains(joined, "SCAN") {
			t.Errorf("%s plan does not search %s: %s", name, q.index, joined)
		}
		t.Logf("%s: %s", name, joined)
	}
}
