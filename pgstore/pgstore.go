package pgstore

import (
	"context"
	"database/sql"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// DefaultSeenRetention is how long a processed event id is remembered.
const DefaultSeenRetention = sqlstore.DefaultSeenRetention

// minPoolConns is the pool size used unless the DSN sets pool_max_conns:
// pgx's default (the number of CPUs, at least 4) is below what a replica's
// workers, listener and HTTP handlers use at once on a small machine.
const minPoolConns = 16

// Options configures Open. The zero value is usable.
type Options struct {
	// Clock returns the current time; time.Now when nil. Queue and named
	// leases are measured on it, so replicas on different hosts need
	// synchronised clocks (NTP), as lease expiry tolerates only small skew.
	Clock func() time.Time
	// Logger receives operational messages; discarded when nil.
	Logger *slog.Logger
	// SeenRetention is how long processed event ids are remembered for
	// dedupe (default 7 days). It must exceed the longest time a source
	// may redeliver an event: billing webhooks retry for about 3 days and
	// the Salesforce event bus keeps events for 3 days.
	SeenRetention time.Duration
}

// Store is the PostgreSQL billsync.Store. It is safe for concurrent use,
// and several processes may share its database.
type Store struct {
	*sqlstore.Store
	db *sql.DB
}

var _ billsync.Store = (*Store)(nil)

// Open connects to dsn (a postgres:// URL or key=value string; pgx's
// pool_max_conns, pool_max_conn_lifetime and pool_max_conn_idle_time and
// runtime parameters such as search_path are honoured) and brings the
// schema up to date under an advisory lock.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, billsync.Errorf(billsync.EINVALID, "postgres store: the database URL does not parse")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, minPoolConns)
	}
	// database/sql is the pool: pgx's pool settings move over to it.
	db := stdlib.OpenDB(*cfg.ConnConfig)
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)

	s := &Store{db: db}
	s.Store, err = sqlstore.Open(ctx, sqlstore.Config{Dialect: dialect, Write: db,
		Where: "the database", Clock: opts.Clock, Logger: opts.Logger, SeenRetention: opts.SeenRetention})
	if err != nil {
		return nil, err
	}
	return s, nil
}
