package sqlstore

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/billsync/billsync"
)

// ConflictColumns are the columns ConflictRow scans, in its order.
const ConflictColumns = `id, at, object, billing_id, salesforce_id, fields, policy, status, winner,
	billing_changed_at, salesforce_changed_at, resolved_at, resolved_by, change_id, event_id`

// InsertConflictColumns are the columns ConflictArgs fills, in its order.
const InsertConflictColumns = `at, object, billing_id, salesforce_id, fields, policy, status, winner,
	billing_changed_at, salesforce_changed_at, resolved_at, resolved_by, change_id, event_id`

// The engine asks for a record's held conflict on every change it applies,
// and metrics count held conflicts on every scrape, however long the
// history of resolved ones; each store pins both to index searches in its
// tests. The status is a literal because both planners use the partial
// index conflicts_held only when they can prove the query's WHERE implies
// the index's, which they cannot for a bound parameter (SQLite never,
// PostgreSQL not under a generic plan).
const (
	HeldConflictSQL = `SELECT ` + ConflictColumns + ` FROM conflicts WHERE object = $1 AND billing_id = $2 AND status = 'held'`
	CountHeldSQL    = `SELECT count(*) FROM conflicts WHERE status = 'held'`
	ConflictSQL     = `SELECT ` + ConflictColumns + ` FROM conflicts WHERE id = $1`
)

// ResolveConflictSQL marks conflict $5 resolved: $1 status, $2 winner, $3
// resolved by, $4 resolved at; ResolveArgs gives the arguments.
const ResolveConflictSQL = `UPDATE conflicts SET status = $1, winner = $2, resolved_by = $3, resolved_at = $4 WHERE id = $5`

// ValidSide reports whether s is one of the two sides.
func ValidSide(s billsync.Side) bool {
	return s == billsync.SideBilling || s == billsync.SideSalesforce
}

// CheckConflictStatus is EINVALID unless status is held or resolved.
func CheckConflictStatus(status string) error {
	if status != billsync.ConflictHeld && status != billsync.ConflictResolved {
		return billsync.Errorf(billsync.EINVALID, "conflict status must be %s or %s, not %q", billsync.ConflictHeld, billsync.ConflictResolved, status)
	}
	return nil
}

// CheckWinner is EINVALID unless winner is a side.
func CheckWinner(winner billsync.Side) error {
	if !ValidSide(winner) {
		return billsync.Errorf(billsync.EINVALID, "conflict winner must be billing or salesforce, not %q", winner)
	}
	return nil
}

// ConflictArgs validates c for AddConflict and returns the arguments of
// an insert of InsertConflictColumns, fields JSON as a string. A zero Time
// is set to now(), on c too (only once c is valid).
func ConflictArgs(c *billsync.Conflict, now func() time.Time) ([]any, error) {
	if c == nil || c.Object == "" || c.BillingID == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "a conflict needs an object type and a billing id")
	}
	if err := CheckConflictStatus(c.Status); err != nil {
		return nil, err
	}
	if c.Winner != "" {
		if err := CheckWinner(c.Winner); err != nil {
			return nil, err
		}
	}
	fields := c.Fields
	if fields == nil {
		fields = []billsync.ConflictField{}
	}
	fj, err := json.Marshal(fields)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "conflict fields of %s %s: %v", c.Object, c.BillingID, err)
	}
	if c.Time.IsZero() {
		c.Time = now().UTC()
	}
	return []any{c.Time.UnixNano(), string(c.Object), c.BillingID, c.SalesforceID, string(fj), c.Policy, c.Status, string(c.Winner),
		NanosOrNull(c.BillingChangedAt), NanosOrNull(c.SalesforceChangedAt), NanosOrNull(c.ResolvedAt), c.ResolvedBy, c.ChangeID, c.EventID}, nil
}

// ResolveArgs are the arguments of ResolveConflictSQL.
func ResolveArgs(id int64, winner billsync.Side, actor string, at time.Time) []any {
	return []any{billsync.ConflictResolved, string(winner), actor, at.UnixNano(), id}
}

// CheckHeld is ECONFLICT unless a conflict's stored status is held.
func CheckHeld(id int64, status string) error {
	if status != billsync.ConflictHeld {
		return billsync.Errorf(billsync.ECONFLICT, "conflict %d is %s, not held", id, status)
	}
	return nil
}

// ConflictQuery builds the query of one Conflicts page, newest first with
// keyset paging on id like LogQuery. An unknown status is EINVALID.
func ConflictQuery(f billsync.ConflictFilter) (query string, args []any, limit int, err error) {
	if f.Status != "" {
		if err := CheckConflictStatus(f.Status); err != nil {
			return "", nil, 0, err
		}
	}
	limit = ClampLimit(f.Limit, DefaultLimit, MaxLimit)
	var w where
	if err := w.cursor(f.Cursor); err != nil {
		return "", nil, 0, err
	}
	if f.Status != "" {
		w.add("status = " + w.arg(f.Status))
	}
	if f.Object != "" {
		w.add("object = " + w.arg(string(f.Object)))
	}
	if f.Record != "" {
		w.record(f.Record)
	}
	return w.query(ConflictColumns, "conflicts", limit), w.args, limit, nil
}

// ConflictRow is what a row of ConflictColumns is scanned into.
type ConflictRow struct {
	c                 billsync.Conflict
	object, winner    string
	fields            []byte
	at, bAt, sAt, rAt *int64
}

// Dest are the scan destinations of ConflictColumns.
func (r *ConflictRow) Dest() []any {
	return []any{&r.c.ID, &r.at, &r.object, &r.c.BillingID, &r.c.SalesforceID, &r.fields, &r.c.Policy, &r.c.Status, &r.winner,
		&r.bAt, &r.sAt, &r.rAt, &r.c.ResolvedBy, &r.c.ChangeID, &r.c.EventID}
}

// Conflict is the scanned conflict.
func (r *ConflictRow) Conflict() (*billsync.Conflict, error) {
	c := r.c
	c.Time = TimeFromNanos(r.at)
	c.Object = billsync.ObjectType(r.object)
	c.Winner = billsync.Side(r.winner)
	c.BillingChangedAt = TimeFromNanos(r.bAt)
	c.SalesforceChangedAt = TimeFromNanos(r.sAt)
	c.ResolvedAt = TimeFromNanos(r.rAt)
	if err := json.Unmarshal(r.fields, &c.Fields); err != nil {
		return nil, fmt.Errorf("fields of conflict %d: %w", c.ID, err)
	}
	if len(c.Fields) == 0 {
		c.Fields = nil
	}
	return &c, nil
}
