package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// metaInt reads an integer meta value of a store.
func metaInt(t *testing.T, s *Store, key string) int {
	t.Helper()
	v, ok, err := s.Meta(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBackupWhileWriting copies a store that another connection keeps
// writing: the copy is a consistent snapshot (a counter and the rows it
// counts agree), refuses an existing file, and keeps the store's private
// permissions.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "billsync.db")
	s := openTest(t, path, Options{})
	ctx := t.Context()

	// Each write enqueues one change and bumps the counter in the same
	// transaction-sized step; a torn copy would show them apart.
	var stop atomic.Bool
	done := make(chan error, 1)
	var written atomic.Int64
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			if _, err := s.Enqueue(context.Background(), &billsync.Change{Partition: fmt.Sprintf("account:%d", i%7), EventID: fmt.Sprintf("e%d", i)}); err != nil {
				done <- err
				return
			}
			if err := s.SetMeta(context.Background(), "count", strconv.Itoa(i+1)); err != nil {
				done <- err
				return
			}
			written.Store(int64(i + 1))
		}
	}()
	waitFor(t, func() bool { return written.Load() >= 20 })
	dst := filepath.Join(dir, "backups", "b1.db")
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	c, err := Backup(ctx, path, dst)
	atLeast := written.Load()
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != dst || c.Bytes == 0 || c.SchemaVersion != LatestSchemaVersion() {
		t.Fatalf("Backup = %+v", c)
	}
	if st, err := os.Stat(dst); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v (want mode 0600)", st, err)
	}
	if _, err := Backup(ctx, path, dst); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("a second backup to the same file = %v, want EINVALID", err)
	}
	if _, err := Backup(ctx, filepath.Join(dir, "nope", "billsync.db"), filepath.Join(dir, "b2.db")); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("backup of a missing store = %v, want ENOTFOUND", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("backup of a missing store created it")
	}

	// The copy opens as a store, at most as new as the original.
	b := openTest(t, dst, Options{})
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	count := metaInt(t, b, "count")
	if int64(count) > atLeast+1 || count < 20 {
		t.Fatalf("backup counter %d, want between 20 and %d", count, atLeast+1)
	}
	// The counter trails the enqueue by one step at most.
	if n := st.Pending + st.Running; n != int64(count) && n != int64(count)+1 {
		t.Fatalf("backup holds %d changes and counter %d: not one snapshot", n, count)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}

// TestRestoreRefusesWhileOpen: a restore needs the store closed
// everywhere, and nothing opens the store while a restore holds it.
func TestRestoreRefusesWhileOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "billsync.db")
	s := openTest(t, path, Options{})
	if err := s.SetMeta(t.Context(), "k", "before"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := Backup(t.Context(), path, backup); err != nil {
		t.Fatal(err)
	}
	_, err := Restore(t.Context(), backup, path)
	if billsync.ErrorCode(err) != billsync.EUNAVAILABLE || !strings.Contains(err.Error(), "stop it first") {
		t.Fatalf("restore while open = %v, want EUNAVAILABLE", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	l, err := lockStore(path, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), path, Options{}); billsync.ErrorCode(err) != billsync.EUNAVAILABLE || !strings.Contains(err.Error(), "being restored") {
		t.Fatalf("open during a restore = %v, want EUNAVAILABLE", err)
	}
	l.release()
}

// TestRestoreBringsBackTheBackup: a restore puts the backup's state in
// place, keeps the replaced store (write-ahead log included) aside, and
// refuses what is not a billsync backup or is newer than this build
// without touching the store.
func TestRestoreBringsBackTheBackup(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data", "billsync.db")
	ctx := t.Context()
	s := openTest(t, path, Options{})
	if err := s.SetMeta(ctx, "k", "in the backup"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, err := Backup(ctx, path, backup); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "k", "after the backup"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte("not a database at all, not even close"), 0o600); err != nil {
		t.Fatal(err)
	}
	newer := filepath.Join(dir, "newer.db")
	if err := copyFile2(backup, newer); err != nil {
		t.Fatal(err)
	}
	ns := openTest(t, newer, Options{})
	if _, err := ns.wdb.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	ns.Close()
	for _, bad := range []string{garbage, newer, filepath.Join(dir, "missing.db")} {
		if _, err := Restore(ctx, bad, path); err == nil {
			t.Fatalf("restore of %s succeeded", filepath.Base(bad))
		} else if bad == newer && !strings.Contains(err.Error(), "9999") {
			t.Errorf("restore of a newer backup: %v, want both versions named", err)
		}
	}
	check := func(want string) {
		t.Helper()
		s := openTest(t, path, Options{})
		if v, _, err := s.Meta(ctx, "k"); err != nil || v != want {
			t.Fatalf("k = %q, %v; want %q", v, err, want)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	check("after the backup")

	c, err := Restore(ctx, backup, path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.Replaced == "" || c.SchemaVersion != LatestSchemaVersion() {
		t.Fatalf("Restore = %+v", c)
	}
	check("in the backup")
	// The replaced store is whole where Restore says.
	old := openTest(t, c.Replaced, Options{})
	if v, _, err := old.Meta(ctx, "k"); err != nil || v != "after the backup" {
		t.Fatalf("replaced store: k = %q, %v", v, err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "data", "*.tmp-*")); len(matches) > 0 {
		t.Fatalf("temporary files left: %v", matches)
	}
}

func copyFile2(src, dst string) error {
	if err := os.WriteFile(dst, nil, 0o600); err != nil {
		return err
	}
	return copyFile(src, dst)
}
