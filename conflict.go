package billsync

import (
	"context"
	"time"
)

// Conflict statuses (D3).
const (
	ConflictResolved = "resolved" // a policy or an operator chose a winner
	ConflictHeld     = "held"     // manual policy: waiting for an operator
)

// OpResolve is the queued change that applies an operator's decision on a
// held conflict, in the record's partition (so it is ordered with the
// record's other changes).
const OpResolve Op = "resolve"

// OpResync is the queued change a resync makes for a record whose sides
// differ: the engine reads both sides afresh and repairs them (H2).
const OpResync Op = "resync"

// ConflictField is one field both sides changed since they last agreed.
type ConflictField struct {
	Field      string `json:"field"` // billing path
	Agreed     string `json:"agreed"`
	Billing    string `json:"billing"`
	Salesforce string `json:"salesforce"`
}

// Conflict is a same-field change on both sides (D1), recorded with both
// values and what became of it (D3).
type Conflict struct {
	ID           int64           `json:"id"`
	Time         time.Time       `json:"time"`
	Object       ObjectType      `json:"object"`
	BillingID    string          `json:"billingId"`
	SalesforceID string          `json:"salesforceId"`
	Fields       []ConflictField `json:"fields"`
	Policy       string          `json:"policy"`
	Status       string          `json:"status"`           // resolved | held
	Winner       Side            `json:"winner,omitempty"` // whose values were kept; "" while held
	// BillingChangedAt and SalesforceChangedAt are the change times
	// latest-wins compared.
	BillingChangedAt    time.Time `json:"billingChangedAt"`
	SalesforceChangedAt time.Time `json:"salesforceChangedAt"`
	ResolvedAt          time.Time `json:"resolvedAt"`
	ResolvedBy          string    `json:"resolvedBy,omitempty"` // "policy:<name>" or the admin token's name
	ChangeID            int64     `json:"changeId,omitempty"`
	EventID             string    `json:"eventId,omitempty"`
}

// ConflictFilter selects conflicts. Zero fields match everything.
type ConflictFilter struct {
	Status string // resolved | held
	Object ObjectType
	Record string // billing or Salesforce id
	Limit  int    // default 100, at most 1000
	Cursor string
}

// ConflictStore keeps conflicts (D3).
type ConflictStore interface {
	// AddConflict stores c and sets its ID. ECONFLICT when c is held and
	// the record already has a held conflict.
	AddConflict(ctx context.Context, c *Conflict) error
	// Conflicts lists conflicts newest first, with a cursor for the next
	// page ("" on the last).
	Conflicts(ctx context.Context, f ConflictFilter) ([]Conflict, string, error)
	// Conflict returns one; ENOTFOUND when there is none.
	Conflict(ctx context.Context, id int64) (*Conflict, error)
	// HeldConflict returns the held conflict of a record, or ENOTFOUND.
	HeldConflict(ctx context.Context, t ObjectType, billingID string) (*Conflict, error)
	// ResolveConflict marks a held conflict resolved with winner, by actor.
	// ECONFLICT when it is not held.
	ResolveConflict(ctx context.Context, id int64, winner Side, actor string, at time.Time) (*Conflict, error)
	// CountHeld is the number of held conflicts (a metric, G4).
	CountHeld(ctx context.Context) (int64, error)
}

// ConflictResolver applies an operator's decision on a held conflict
// (the engine implements it: it queues an OpResolve change).
type ConflictResolver interface {
	ResolveConflict(ctx context.Context, id int64, winner Side, actor string) (*Conflict, error)
}

// Resync request and report (H2).
type ResyncRequest struct {
	Object  ObjectType `json:"object,omitempty"` // "" = every two-way object
	Record  string     `json:"record,omitempty"` // a billing or Salesforce id; needs Object
	DryRun  bool       `json:"dryRun"`           // H4: list differences, change nothing
	Initial bool       `json:"initial"`          // first load: link existing records before creating any
}

// Resync difference kinds.
const (
	DiffMissingInSalesforce = "missing_in_salesforce"
	DiffMissingInBilling    = "missing_in_billing"
	DiffFields              = "fields_differ"
	DiffUnlinked            = "unlinked" // on both sides, not linked yet (initial load links it)
)

// ResyncDiff is one difference found by a resync.
type ResyncDiff struct {
	Object       ObjectType `json:"object"`
	BillingID    string     `json:"billingId,omitempty"`
	SalesforceID string     `json:"salesforceId,omitempty"`
	Kind         string     `json:"kind"`
	Fields       []string   `json:"fields,omitempty"`
	// Values are the differing fields' values on each side, in Fields'
	// order, so an operator sees what a repair would change.
	Values []DiffValue `json:"values,omitempty"`
	Action string      `json:"action"` // what the repair does (or would do, in a dry run)
}

// DiffValue is one differing field's value on each side, in canonical
// form ("" when the side has none).
type DiffValue struct {
	Field      string `json:"field"`
	Billing    string `json:"billing"`
	Salesforce string `json:"salesforce"`
}

// ResyncReport is a resync's progress and outcome.
type ResyncReport struct {
	ID          string        `json:"id"`
	Request     ResyncRequest `json:"request"`
	State       string        `json:"state"` // running | done | failed
	Started     time.Time     `json:"started"`
	Finished    time.Time     `json:"finished"`
	Total       int           `json:"total"`    // records to compare (known once both sides were listed)
	Compared    int           `json:"compared"` // records compared so far
	Differences int           `json:"differences"`
	Repairs     int           `json:"repairs"`  // changes queued to repair (0 in a dry run)
	APICalls    int           `json:"apiCalls"` // Salesforce calls spent reading, and estimated for the repair
	Diffs       []ResyncDiff  `json:"diffs"`    // at most the first 1000
	// Guard is the mass-change guard's check of each object compared:
	// an object over a limit is held (not repaired) until an admin
	// approves it; in a dry run it says a real run would be held.
	Guard []GuardCheck `json:"guard,omitempty"`
	Error string       `json:"error,omitempty"`
}

// Resyncer runs resyncs in the server (the engine implements it).
type Resyncer interface {
	StartResync(ctx context.Context, req ResyncRequest) (*ResyncReport, error)
	Resync(ctx context.Context, id string) (*ResyncReport, error)
}
