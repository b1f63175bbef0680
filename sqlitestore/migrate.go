package sqlitestore

import "github.com/billsync/billsync/internal/sqlstore"

// types are SQLite's column types for the shared schema (see
// sqlstore.Schema). Times are INTEGER unix nanoseconds, so they sort
// numerically and compare exactly. Each migration's immediate transaction
// holds the write lock, so two processes opening a new file at once
// migrate it once.
var types = sqlstore.SchemaTypes{
	Identity: "INTEGER PRIMARY KEY AUTOINCREMENT", // AUTOINCREMENT: an id is never reused
	Int64:    "INTEGER",
	Int32:    "INTEGER",
	Text:     "TEXT",
	Bytes:    "BLOB",
	JSON:     "TEXT",
	// printf's %X of a negative integer is its 64-bit two's complement.
	BigEndian: "unhex(printf('%%016X', %s))",
}

// migrations lists the schema's migrations in SQLite's types.
func migrations() ([]sqlstore.Migration, error) { return sqlstore.Schema(types) }

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int { return sqlstore.LatestSchemaVersion() }
