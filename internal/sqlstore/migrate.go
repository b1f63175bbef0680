package sqlstore

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
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
