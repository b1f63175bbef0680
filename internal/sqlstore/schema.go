package sqlstore

import (
	"bytes"
	"embed"
	"text/template"
)

// schemaFS is the schema of both engines, one numbered file a version,
// written once with the column types left as template fields that each
// engine's SchemaTypes fills in. Files are never edited once released:
// schema_migrations records versions, and a released version must mean
// the same tables on every store.
//
//go:embed schema/*.sql
var schemaFS embed.FS

// SchemaTypes are an engine's column types for the schema's fields.
type SchemaTypes struct {
	Identity string // an ever-increasing, never reused 64-bit primary key
	Int64    string
	Int32    string
	Text     string
	Bytes    string // bytes read back exactly (payloads)
	JSON     string // JSON only billsync reads (agreed values, conflict fields)
	// BigEndian is an expression of an Int64 column's 8 big-endian bytes
	// (two's complement), a Bytes value; %s is the column's name.
	BigEndian string
}

// Schema renders the schema's migrations with an engine's types, in
// version order.
func Schema(types SchemaTypes) ([]Migration, error) {
	ms, err := Migrations(schemaFS, "schema/*.sql")
	if err != nil {
		return nil, err
	}
	for i := range ms {
		t, err := template.New(ms[i].Name).Option("missingkey=error").Parse(ms[i].SQL)
		if err != nil {
			return nil, err
		}
		var b bytes.Buffer
		if err := t.Execute(&b, types); err != nil {
			return nil, err
		}
		ms[i].SQL = b.String()
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := Migrations(schemaFS, "schema/*.sql")
	if err != nil {
		return 0
	}
	return len(ms)
}
