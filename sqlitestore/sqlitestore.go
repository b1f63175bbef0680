package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// driverName is the only place the driver is named, so that a drop-in
// replacement (ncruces/go-sqlite3) is a one-line change.
const driverName = "sqlite"

// DefaultSeenRetention is how long a processed event id is remembered.
const DefaultSeenRetention = sqlstore.DefaultSeenRetention

// Options configures Open. The zero value is usable.
type Options struct {
	// Clock returns the current time; time.Now when nil. Tests move it to
	// expire leases and retention without sleeping.
	Clock func() time.Time
	// Logger receives operational messages; discarded when nil.
	Logger *slog.Logger
	// SeenRetention is how long processed event ids are remembered for
	// dedupe (default 7 days). It must exceed the longest time a source
	// may redeliver an event: billing webhooks retry for about 3 days and
	// the Salesforce event bus keeps events for 3 days.
	SeenRetention time.Duration
}

// Store is the SQLite billsync.Store. It is safe for concurrent use.
type Store struct {
	*sqlstore.Store
	path string
	wdb  *sql.DB // the single writer connection
	rdb  *sql.DB // read-only connections
	lock *fileLock
}

var _ billsync.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, creating its
// directory, and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	abs, err := createFile(path)
	if err != nil {
		return nil, err
	}
	lock, err := lockStore(abs, false)
	if err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened {
			lock.release()
		}
	}()
	s := &Store{path: abs, lock: lock}

	// busy_timeout: another process (a CLI command) may hold the write
	// lock briefly. _txlock=immediate: a deferred transaction that reads
	// and then writes fails with SQLITE_BUSY at the upgrade no matter how
	// long the timeout, so every write transaction takes the lock up front.
	// synchronous=FULL: in WAL mode NORMAL survives a killed process but
	// may lose the last commits on power loss or an OS crash; a webhook is
	// answered 2xx only after its commit, so that commit must be on disk.
	base := "file:" + (&url.URL{Path: abs}).EscapedPath()
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)"
	s.wdb, err = sql.Open(driverName, base+"?"+common+"&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite store: open: %w", err)
	}
	// SQLite has one writer at a time. One pooled connection makes Go queue
	// writers in order instead of having them poll the file lock.
	s.wdb.SetMaxOpenConns(1)
	s.wdb.SetMaxIdleConns(1)
	s.wdb.SetConnMaxIdleTime(0)
	s.wdb.SetConnMaxLifetime(0)
	if err := s.checkWAL(ctx); err != nil {
		_ = s.wdb.Close()
		return nil, err
	}

	// Readers run beside the writer thanks to WAL. query_only makes an
	// accidental write on this pool an error instead of a lock fight, and
	// deferred transactions give Stats a consistent snapshot without
	// taking the write lock.
	s.rdb, err = sql.Open(driverName, base+"?"+common+"&_pragma=query_only(1)&_txlock=deferred")
	if err != nil {
		_ = s.wdb.Close()
		return nil, fmt.Errorf("sqlite store: open readers: %w", err)
	}
	s.rdb.SetMaxOpenConns(4)
	s.rdb.SetMaxIdleConns(4)

	s.Store, err = sqlstore.Open(ctx, sqlstore.Config{Dialect: dialect, Write: s.wdb, Read: s.rdb,
		Where: abs, Clock: opts.Clock, Logger: opts.Logger, SeenRetention: opts.SeenRetention})
	if err != nil {
		return nil, err
	}
	opened = true
	return s, nil
}

// createFile checks path, creates its directory and the file, and returns
// its absolute form.
func createFile(path string) (string, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// :memory: would give every pooled connection its own empty
		// database; a URI would bypass the DSN Open builds.
		return "", billsync.Errorf(billsync.EINVALID, "sqlite store: want a file path, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("sqlite store: resolve %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return "", fmt.Errorf("sqlite store: create directory: %w", err)
	}
	// The file holds webhook payloads and settings: create it private
	// before SQLite does (SQLite would use 0644). SQLite gives the -wal
	// and -shm files the database file's permissions.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("sqlite store: create %s: %w", abs, err)
	}
	_ = f.Close()
	return abs, nil
}

// checkWAL verifies that journal_mode=WAL took effect: on a file system
// without shared memory support SQLite silently keeps the rollback
// journal, and readers would then block the writer.
func (s *Store) checkWAL(ctx context.Context) error {
	var mode string
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite store: open %s: %w", s.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return billsync.Errorf(billsync.EINTERNAL, "sqlite store: %s: journal_mode is %q, want wal (is the file system local?)", s.path, mode)
	}
	return nil
}

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// ReleaseLeases hands every running change back to the queue and drops
// every named lease. A SQLite store belongs to one billsync process, so
// when that process starts, no worker holds a lease any more: the running
// changes and the subscription's lease were abandoned by a crash and need
// not wait to run out. It returns how many changes were released.
func (s *Store) ReleaseLeases(ctx context.Context) (int64, error) {
	return sqlstore.ReleaseLeases(ctx, s.Store)
}
