package sqlstore

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// Page sizes of the listing methods (Logs, Conflicts, Audit, DeadLetters).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ClampLimit applies the default and maximum page sizes.
func ClampLimit(n, def, max int) int {
	switch {
	case n <= 0:
		return def
	case n > max:
		return max
	}
	return n
}

// Cursors are opaque to callers and the same for both stores; the version
// prefix lets the format change without misreading an old cursor held by a
// browser.
const cursorPrefix = "v1."

// EncodeCursor is the cursor of the page that continues after id (keyset
// paging on descending ids).
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

// DecodeCursor returns the id a cursor continues after; EINVALID for a
// cursor EncodeCursor did not make.
func DecodeCursor(c string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), cursorPrefix); ok {
			if id, err := strconv.ParseInt(rest, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, billsync.Errorf(billsync.EINVALID, "malformed cursor %q", c)
}

// NextPage cuts rows, read with the limit+1 a query built here asks for,
// to limit and returns the cursor of the next page ("" on the last page):
// one row more than the page tells whether another page exists.
func NextPage[T any](rows []T, limit int, id func(*T) int64) ([]T, string) {
	if len(rows) <= limit {
		return rows, ""
	}
	rows = rows[:limit]
	return rows, EncodeCursor(id(&rows[limit-1]))
}

// where collects the conditions and arguments of a listing query.
type where struct {
	conds []string
	args  []any
}

// arg adds v to the arguments and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

// cursor adds the keyset condition of cursor c, if any.
func (w *where) cursor(c string) error {
	if c == "" {
		return nil
	}
	before, err := DecodeCursor(c)
	if err != nil {
		return err
	}
	w.add("id < " + w.arg(before))
	return nil
}

// record matches a billing or a Salesforce id.
func (w *where) record(id string) {
	p := w.arg(id)
	w.add("(billing_id = " + p + " OR salesforce_id = " + p + ")")
}

// query is "SELECT columns FROM table [WHERE …] ORDER BY id DESC LIMIT
// limit+1", newest first.
func (w *where) query(columns, table string, limit int) string {
	q := `SELECT ` + columns + ` FROM ` + table
	if len(w.conds) > 0 {
		q += " WHERE " + strings.Join(w.conds, " AND ")
	}
	return q + " ORDER BY id DESC LIMIT " + w.arg(limit+1)
}
