package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// Migration is one embedded schema migration file.
type Migration struct {
	Version int    // from the file name
	Name    string // the file name without .sql
	SQL     string
}

// Migrations lists the files in fsys matching pattern (such as
// "migrations/*.sql") in version order. Files are named NNNN_name.sql;
// versions must be unique and start at 1 without gaps, so that a missing
// file is caught by tests rather than silently skipped. fsys is the
// store's embedded files: reading them touches no disk.
func Migrations(fsys fs.FS, pattern string) ([]Migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and an underscore", base)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: strings.TrimSuffix(base, ".sql"), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// InsertMigrationSQL records migration $1 named $2 as applied at $3.
const InsertMigrationSQL = `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`

// SchemaVersionSQL reads the highest applied migration (NULL if none).
const SchemaVersionSQL = `SELECT max(version) FROM schema_migrations`

// CreateMigrationsSQL is the record of applied migrations, in types both
// engines know.
const CreateMigrationsSQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at bigint NOT NULL
)`

// migrate applies every migration of ms not yet recorded in
// schema_migrations, each in its own transaction together with its record,
// so a crash leaves the schema at a whole version. The run holds the
// dialect's migration lock if it has one; each migration re-checks its
// record inside its transaction, so processes migrating one database
// together (replicas starting at once, a CLI command beside the server)
// apply it once.
func (s *Store) migrate(ctx context.Context, ms []Migration) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return s.err("migrate", err)
	}
	defer conn.Close()
	if s.d.LockMigrations != nil {
		unlock, err := s.d.LockMigrations(ctx, conn)
		if err != nil {
			return s.err("migrate: lock", err)
		}
		defer unlock()
	}
	if _, err := conn.ExecContext(ctx, CreateMigrationsSQL); err != nil {
		return s.err("migrate", err)
	}
	current, err := schemaVersion(ctx, conn)
	if err != nil {
		return s.err("schema version", err)
	}
	if current > len(ms) {
		// Running an older binary against a newer schema could write rows
		// the newer code misreads; refuse instead.
		return billsync.Errorf(billsync.EINTERNAL, "%s: %s has schema version %d, newer than this build knows (%d); upgrade billsync",
			s.d.Name, s.where, current, len(ms))
	}
	for _, m := range ms[current:] {
		if err := runTx(ctx, conn, txn{conn: conn}, func(tx *txn) error { return s.apply(ctx, tx, m) }); err != nil {
			return s.err("migrate "+m.Name, err)
		}
		s.log.Info(s.d.Name+": applied migration", "database", s.where, "migration", m.Name)
	}
	return nil
}

// apply runs migration m and records it, unless another process recorded
// it first.
func (s *Store) apply(ctx context.Context, tx *txn, m Migration) error {
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&done); err != nil {
		return err
	}
	if done > 0 {
		return nil
	}
	// Without arguments both drivers run a file of several statements
	// (pgx through the simple protocol, in one round trip).
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, InsertMigrationSQL, m.Version, m.Name, s.now().UnixNano())
	return err
}

func schemaVersion(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, SchemaVersionSQL).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// SchemaVersion is the highest applied migration (0 for a new database).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	v, err := schemaVersion(ctx, s.r)
	return v, s.err("schema version", err)
}
