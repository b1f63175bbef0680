package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// driverName is the only place the driver is named, so that a drop-in
// replacement (ncruces/go-sqlite3) is a one-line change.
const driverName = "sqlite"

// DefaultSeenRetention is how long a processed event id is remembered.
const DefaultSeenRetention = sqlstore.DefaultSeenRetention

// seenPruneEvery bounds how often Enqueue spends time deleting expired
// event ids.
const seenPruneEvery = sqlstore.SeenPruneEvery

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
	path   string
	wdb    *sql.DB // the single writer connection
	rdb    *sql.DB // read-only connections
	now    func() time.Time
	log    *slog.Logger
	seenTT time.Duration

	prune sqlstore.Throttle // of pruning seen event ids

	// Group commit: write transactions that arrive while one is being
	// committed share the next commit (and its fsync).
	writeMu sync.Mutex
	writes  []*writeReq
	writing bool

	closeOnce sync.Once
	closeErr  error
}

var _ billsync.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path, creating its
// directory, and brings its schema up to date.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		// :memory: would give every pooled connection its own empty
		// database; a URI would bypass the DSN built below.
		return nil, billsync.Errorf(billsync.EINVALID, "sqlite store: want a file path, got %q", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: resolve %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite store: create directory: %w", err)
	}
	// The file holds webhook payloads and settings: create it private
	// before SQLite does (SQLite would use 0644). SQLite gives the -wal
	// and -shm files the database file's permissions.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: create %s: %w", abs, err)
	}
	_ = f.Close()

	s := &Store{path: abs}
	s.now, s.log, s.seenTT = sqlstore.Defaults(opts.Clock, opts.Logger, opts.SeenRetention)

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
	if err := s.migrate(ctx); err != nil {
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
	if err := s.rdb.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("sqlite store: open readers: %w", err)
	}
	return s, nil
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

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.rdb != nil {
			errs = append(errs, s.rdb.Close())
		}
		if s.wdb != nil {
			errs = append(errs, s.wdb.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("sqlite store: close: %w", err)
		}
	})
	return s.closeErr
}

// writeReq is one caller's write, waiting for a group commit.
type writeReq struct {
	ctx  context.Context
	op   string
	fn   func(tx *sql.Tx) error
	done chan error
}

// maxGroupWrites bounds the writes one commit takes.
const maxGroupWrites = 256

// tx runs fn in a write transaction and returns once it is committed (or
// failed). Writes of concurrent callers share a commit: SQLite has one
// writer and every commit costs an fsync, so while one commit is under
// way the writes that arrive meanwhile wait and then commit together,
// each inside its own savepoint, so one failing write rolls back alone.
func (s *Store) tx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	r := &writeReq{ctx: ctx, op: op, fn: fn, done: make(chan error, 1)}
	s.writeMu.Lock()
	s.writes = append(s.writes, r)
	if !s.writing {
		s.writing = true
		go s.commitLoop()
	}
	s.writeMu.Unlock()
	return <-r.done
}

// commitLoop commits pending writes in groups until none is left.
func (s *Store) commitLoop() {
	for {
		s.writeMu.Lock()
		n := min(len(s.writes), maxGroupWrites)
		if n == 0 {
			s.writing = false
			s.writeMu.Unlock()
			return
		}
		group := s.writes[:n:n]
		s.writes = s.writes[n:]
		s.writeMu.Unlock()
		if len(group) == 1 {
			group[0].done <- s.runAlone(group[0])
			continue
		}
		s.runGroup(group)
	}
}

func (s *Store) runAlone(r *writeReq) error {
	tx, err := s.wdb.BeginTx(r.ctx, nil)
	if err != nil {
		return dbErr(r.op, err)
	}
	if err := r.fn(tx); err != nil {
		_ = tx.Rollback()
		return dbErr(r.op, err)
	}
	return dbErr(r.op, tx.Commit())
}

// runGroup commits several writes in one transaction. A write whose
// savepoint fails is rolled back to it and reports its own error; if the
// commit itself fails, every write in the group reports it.
func (s *Store) runGroup(group []*writeReq) {
	tx, err := s.wdb.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range group {
			r.done <- dbErr(r.op, err)
		}
		return
	}
	errs := make([]error, len(group))
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := tx.ExecContext(r.ctx, "SAVEPOINT w"); err != nil {
			errs[i] = err
			continue
		}
		if err := r.fn(tx); err != nil {
			errs[i] = err
			if _, rerr := tx.ExecContext(context.Background(), "ROLLBACK TO w"); rerr != nil {
				// The transaction is unusable: fail the whole group.
				_ = tx.Rollback()
				for j, r := range group {
					if errs[j] == nil {
						errs[j] = rerr
					}
					r.done <- dbErr(r.op, errs[j])
				}
				return
			}
		}
		if _, err := tx.ExecContext(context.Background(), "RELEASE w"); err != nil && errs[i] == nil {
			errs[i] = err
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range group {
			r.done <- dbErr(r.op, err)
		}
		return
	}
	for i, r := range group {
		r.done <- dbErr(r.op, errs[i])
	}
}

// dbErr gives err the operation's name and, for the failures a caller can
// act on, a billsync error code. Errors that already carry a code are
// passed through with the context added.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *billsync.Error
	if errors.As(err, &be) {
		return fmt.Errorf("sqlite store: %s: %w", op, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return fmt.Errorf("sqlite store: %s: %w: %w", op, billsync.Errorf(billsync.EUNAVAILABLE, "database is busy"), err)
		case sqlite3.SQLITE_FULL:
			return fmt.Errorf("sqlite store: %s: %w: %w", op, billsync.Errorf(billsync.EUNAVAILABLE, "disk is full"), err)
		case sqlite3.SQLITE_CONSTRAINT:
			return fmt.Errorf("sqlite store: %s: %w: %w", op, billsync.Errorf(billsync.ECONFLICT, "%s", constraintMessage(se)), err)
		}
	}
	return fmt.Errorf("sqlite store: %s: %w", op, err)
}

func constraintMessage(se *sqlite.Error) string {
	msg := se.Error()
	if strings.Contains(msg, "sync_state.salesforce_id") {
		return "another record is already mapped to this Salesforce id"
	}
	if strings.Contains(msg, "conflicts.object") {
		return "the record already has a held conflict"
	}
	return "constraint violated"
}
