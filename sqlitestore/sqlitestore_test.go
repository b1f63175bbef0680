package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
	"github.com/billsync/billsync/storetest"
)

func openTest(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts)
	return storetest.Opened(t, s, err)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) billsync.Store {
		return openTest(t, filepath.Join(t.TempDir(), "billsync.db"), Options{})
	})
}

func TestOpenCreatesDirsAndReopens(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "billsync.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() || v < 1 {
		t.Fatalf("SchemaVersion = %d, %v; latest %d", v, err, LatestSchemaVersion())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode %v is readable by others", perm)
	}

	c := &billsync.Change{Partition: "account:a", Source: billsync.SideBilling, Object: billsync.ObjectAccount,
		Op: billsync.OpCreated, RecordID: "a", EventID: "evt-1", Payload: json.RawMessage(`{"id":"a"}`)}
	if _, err := s.Enqueue(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetSetting(ctx, billsync.KeySyncEnabled, json.RawMessage(`false`), "cli"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetReplayID(ctx, "/event/X", billsync.ReplayInt(42)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	// Reopening runs no migration twice and finds everything.
	s = openTest(t, path, Options{})
	var n int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil || n != LatestSchemaVersion() {
		t.Fatalf("schema_migrations rows = %d, %v", n, err)
	}
	got, err := s.Claim(ctx, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].EventID != "evt-1" || string(got[0].Payload) != `{"id":"a"}` {
		t.Fatalf("after reopen claimed %+v, %v", got, err)
	}
	dup, err := s.Enqueue(ctx, &billsync.Change{Partition: "account:a", EventID: "evt-1"})
	if err != nil || !dup[0] {
		t.Errorf("dedupe after reopen: %v, %v", dup, err)
	}
	settings, err := s.Settings(ctx)
	if err != nil || len(settings) != 1 || string(settings[0].Value) != "false" {
		t.Errorf("settings after reopen = %+v, %v", settings, err)
	}
	if id, ok, err := s.ReplayID(ctx, "/event/X"); err != nil || !ok || !id.Equal(billsync.ReplayInt(42)) {
		t.Errorf("replay id after reopen = %x, %v, %v", id, ok, err)
	}
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if _, err := Open(t.Context(), p, Options{}); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("Open(%q) = %v, want EINVALID", p, err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open(t.Context(), path, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open on a newer schema = %v", err)
	}
}

func TestPathWithURISpecialCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird #dir%20", "b.db")
	s := openTest(t, path, Options{})
	if err := s.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
}

func TestConnectionSettings(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "b.db"), Options{})
	ctx := t.Context()
	for _, db := range []*sql.DB{s.wdb, s.rdb} {
		var mode string
		var sync, fk, busy int
		if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || sync != 2 || fk != 1 || busy != 10000 {
			t.Errorf("journal_mode %s, synchronous %d, foreign_keys %d, busy_timeout %d", mode, sync, fk, busy)
		}
	}
	if _, err := s.rdb.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('x', 'y')`); err == nil {
		t.Error("the read pool accepted a write")
	}
}

// TestClaimUsesIndexes pins the query plans that keep Claim and the head
// bookkeeping from scanning the backlog.
func TestClaimUsesIndexes(t *testing.T) {
	s := openTest(t, filepath.Join(t.TempDir(), "b.db"), Options{})
	ctx := t.Context()
	// Give the planner statistics resembling a backlog.
	var cs []*billsync.Change
	for i := range 2000 {
		cs = append(cs, &billsync.Change{Partition: fmt.Sprintf("account:%d", i%20), EventID: fmt.Sprintf("e%d", i)})
	}
	if _, err := s.Enqueue(ctx, cs...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.wdb.ExecContext(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	plans := map[string]struct {
		sql  string
		args []any
	}{
		"claim": {claimSQL, []any{int64(2), int64(1), 10}},
		"head":  {sqlstore.RefreshHeadSQL, []any{"account:1"}},
		// The followers of two heads, 8 per run: the plan must step through
		// queue_partition, not scan or rank whole partitions.
		"followers": {sqlstore.FollowersSQL(dialect), []any{int64(2), "[1, 2]", 8}},
	}
	for name, q := range plans {
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
		for _, p := range plan {
			// json_each is the list of ids a statement is given.
			if strings.HasPrefix(p, "SCAN") && !strings.HasPrefix(p, "SCAN json_each") || strings.Contains(p, "TEMP B-TREE") {
				t.Errorf("%s plan scans or sorts: %s", name, joined)
			}
		}
		t.Logf("%s: %s", name, joined)
	}
}

// TestTwoProcessesShareAFile stands in for a CLI command writing while the
// server runs: two Stores on one file, writing at once, never see
// SQLITE_BUSY thanks to immediate transactions and the busy timeout.
func TestTwoProcessesShareAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	a := openTest(t, path, Options{})
	b := openTest(t, path, Options{})
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			for j := range 100 {
				c := &billsync.Change{Partition: fmt.Sprintf("account:%d", j%5), EventID: fmt.Sprintf("s%d-%d", i, j)}
				if _, err := s.Enqueue(ctx, c); err != nil {
					errs <- err
					return
				}
				got, err := s.Claim(ctx, 2, time.Minute)
				if err != nil {
					errs <- err
					return
				}
				for _, g := range got {
					if err := s.Complete(ctx, g.ID); err != nil && billsync.ErrorCode(err) != billsync.ENOTFOUND {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkEnqueueClaimComplete(b *testing.B) {
	s := openTest(b, filepath.Join(b.TempDir(), "bench.db"), Options{})
	ctx := context.Background()
	// A standing backlog, so the numbers show claim cost with work queued.
	var backlog []*billsync.Change
	for i := range 5000 {
		backlog = append(backlog, &billsync.Change{Partition: fmt.Sprintf("backlog:%d", i%50), EventID: fmt.Sprintf("b%d", i)})
	}
	if _, err := s.Enqueue(ctx, backlog...); err != nil {
		b.Fatal(err)
	}
	// Park the backlog's heads far in the future so the loop below claims
	// only its own changes while the index still holds the backlog.
	heads, err := s.Claim(ctx, 50, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range heads {
		if err := s.Retry(ctx, h.ID, time.Now().Add(24*time.Hour), ""); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i++
		c := &billsync.Change{Partition: fmt.Sprintf("account:%d", i%16), EventID: fmt.Sprintf("e%d", i), Payload: json.RawMessage(`{"id":"x"}`)}
		if _, err := s.Enqueue(ctx, c); err != nil {
			b.Fatal(err)
		}
		got, err := s.Claim(ctx, 1, time.Minute)
		if err != nil || len(got) != 1 {
			b.Fatalf("claim: %v, %v", got, err)
		}
		if err := s.Complete(ctx, got[0].ID, billsync.LogEntry{Outcome: billsync.OutcomeSuccess}); err != nil {
			b.Fatal(err)
		}
	}
}

// A restarted process takes back the changes a crashed one had claimed,
// without waiting for their leases to run out.
func TestReleaseLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "q.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := &billsync.Change{Partition: "account:a", Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpCreated, RecordID: "a", EventID: "e1"}
	b := &billsync.Change{Partition: "account:a", Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "a", EventID: "e2"}
	if _, err := s.Enqueue(ctx, a, b); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Claim(ctx, 10, time.Hour); err != nil || len(got) != 1 {
		t.Fatalf("claim %v %v", got, err)
	}
	if got, _ := s.Claim(ctx, 10, time.Hour); len(got) != 0 {
		t.Fatalf("claimed while leased: %v", got)
	}
	if n, err := s.ReleaseLeases(ctx); err != nil || n != 1 {
		t.Fatalf("released %d %v", n, err)
	}
	got, err := s.Claim(ctx, 10, time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != a.ID || got[0].Attempt != 2 {
		t.Fatalf("after release: %+v %v", got, err)
	}
}
