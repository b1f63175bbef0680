package billsync

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The mass-change guard. A resync or an initial load that would delete,
// or separately overwrite, more of one object's records than its
// guard.deletes.<object> or guard.overwrites.<object> setting allows is
// not applied: its repairs are held as a pending run until an admin
// approves or discards it. A mapping mistake or the wrong org otherwise
// turns one command into thousands of destroyed records. Live changes are
// guarded too: a burst of deletes, or of overwrites, of one object joins
// the object's pending burst run (HeldKindBurst).

// Held run kinds: what produced the run.
const (
	HeldKindResync  = "resync"
	HeldKindInitial = "initial" // resync --initial
	// HeldKindBurst holds the deletes, and the overwrites, of one
	// object arriving as live changes (webhooks, Salesforce events) past
	// the guard's limits within its window; later deletes (overwrites) of
	// the object join it.
	HeldKindBurst = "burst"
)

// HeldEventPrefix starts the event id of a change an approved burst run
// queued again ("held:<run id>:<original event id>"): its original event
// id was seen already, and the guard lets it through.
const HeldEventPrefix = "held:"

// HeldSampleMax bounds a held run's sample per operation (its counts stay
// exact).
const HeldSampleMax = 20

// Held run states.
const (
	HeldPending   = "pending"
	HeldApproved  = "approved"  // its changes were queued
	HeldDiscarded = "discarded" // its changes were dropped; nothing was written
)

// Guarded operations, as a HeldRecord names them.
const (
	GuardDelete    = "delete"
	GuardOverwrite = "overwrite"
)

// GuardLimit is one guard setting: a run may delete (or overwrite) at
// most Percent % of the object's records and at most Count of them,
// whichever is smaller.
type GuardLimit struct {
	Percent int `json:"percent"` // 0..100
	Count   int `json:"count"`   // >= 0
}

// DefaultGuardLimit is every guard setting's default: 10 % or 500
// records, whichever is smaller.
var DefaultGuardLimit = GuardLimit{Percent: 10, Count: 500}

// Exceeded reports whether n of total records is more than l allows.
// The share is compared exactly (n/total > Percent/100), never rounded.
func (l GuardLimit) Exceeded(n, total int) bool {
	return n > 0 && (n > l.Count || int64(n)*100 > int64(l.Percent)*int64(total))
}

// Max is how many of total records l allows.
func (l GuardLimit) Max(total int) int {
	return min(l.Count, int(int64(l.Percent)*int64(total)/100))
}

func (l GuardLimit) String() string { return fmt.Sprintf("%d%%, at most %d", l.Percent, l.Count) }

// GuardCheck is what the guard found for one object of a run: the counts
// it compared with the object's limits and whether a real run is (or
// would be, in a dry run) held.
type GuardCheck struct {
	Object         ObjectType `json:"object"`
	Total          int        `json:"total"` // the object's records the run compared
	Deletes        int        `json:"deletes"`
	Overwrites     int        `json:"overwrites"`
	DeleteLimit    GuardLimit `json:"deleteLimit"`
	OverwriteLimit GuardLimit `json:"overwriteLimit"`
	Held           bool       `json:"held"`
	// Reasons say which limit was passed, naming its setting.
	Reasons []string `json:"reasons,omitempty"`
	// HeldRun is the held run's id (0 in a dry run or when not held).
	HeldRun int64 `json:"heldRun,omitempty"`
}

// HeldField is one field a held overwrite would change: Side is the side
// written, from Old to New; Side is "" when both sides changed since they
// last agreed and the conflict policy decides (Old is then Salesforce's
// value and New billing's).
type HeldField struct {
	Field string `json:"field"`
	Side  Side   `json:"side,omitempty"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// HeldRecord is one record of a held run's sample.
type HeldRecord struct {
	Op           string      `json:"op"` // delete | overwrite
	BillingID    string      `json:"billingId,omitempty"`
	SalesforceID string      `json:"salesforceId,omitempty"`
	Action       string      `json:"action"`
	Fields       []HeldField `json:"fields,omitempty"`
}

// HeldRun is a run the guard held: its counts, a sample of the records it
// would delete or overwrite, and what became of it.
type HeldRun struct {
	ID      int64      `json:"id"`
	Kind    string     `json:"kind"` // resync | initial | burst
	Job     string     `json:"job"`  // the resync's id ("" for a burst)
	Object  ObjectType `json:"object"`
	State   string     `json:"state"` // pending | approved | discarded
	Created time.Time  `json:"created"`
	Guard   GuardCheck `json:"guard"`
	// Changes is how many changes the run holds (every repair of the
	// object, not only its deletes and overwrites).
	Changes   int          `json:"changes"`
	Sample    []HeldRecord `json:"sample"`
	DecidedAt time.Time    `json:"decidedAt"`
	DecidedBy string       `json:"decidedBy,omitempty"`
}

// AddBurstRecord counts one more held change of a burst run, shown as
// rec: a delete or an overwrite by rec.Op. rec joins the run's sample
// while the sample holds fewer than HeldSampleMax records of its
// operation. why, the guard's reasons for holding it, join the run's
// reasons unless it has them: a run a burst of deletes started also
// holds the overwrites of its object once they pass their limit.
func (r *HeldRun) AddBurstRecord(rec HeldRecord, why []string) {
	n := 0
	for _, x := range r.Sample {
		if x.Op == rec.Op {
			n++
		}
	}
	if rec.Op == GuardOverwrite {
		r.Guard.Overwrites++
	} else {
		r.Guard.Deletes++
	}
	if n < HeldSampleMax {
		r.Sample = append(r.Sample, rec)
	}
	for _, w := range why {
		if !slices.Contains(r.Guard.Reasons, w) {
			r.Guard.Reasons = append(r.Guard.Reasons, w)
		}
	}
	r.Guard.Held = true
}

// HeldRunFilter selects held runs; zero fields match everything.
type HeldRunFilter struct {
	State string // pending | approved | discarded
	Limit int    // default 100, at most 1000
}

// HeldRunStore keeps held runs and the changes they hold. They survive a
// restart.
type HeldRunStore interface {
	// HoldRun stores r as pending with its changes and sets r.ID,
	// r.State, r.Changes and a zero r.Created.
	HoldRun(ctx context.Context, r *HeldRun, changes []*Change) error
	// HeldRuns lists held runs newest first.
	HeldRuns(ctx context.Context, f HeldRunFilter) ([]HeldRun, error)
	// HeldRun returns one; ENOTFOUND when there is none.
	HeldRun(ctx context.Context, id int64) (*HeldRun, error)
	// ApproveHeldRun marks a pending run approved by actor, queues its
	// changes (Enqueue's rules: an event id seen before is not queued
	// again) and appends an audit entry, in one transaction. ENOTFOUND
	// for an unknown id, ECONFLICT when it is not pending.
	ApproveHeldRun(ctx context.Context, id int64, actor string) (*HeldRun, error)
	// DiscardHeldRun marks a pending run discarded by actor, drops its
	// changes and appends an audit entry, in one transaction; nothing is
	// queued. Errors as ApproveHeldRun.
	DiscardHeldRun(ctx context.Context, id int64, actor string) (*HeldRun, error)
	// HoldBurstChange adds change c, a delete or an overwrite shown as
	// rec, to the pending burst run of r.Object, creating it from r when
	// there is none, in one transaction: the run counts it
	// (AddBurstRecord, with r's reasons). A change whose event id the run
	// holds already is not added again. It returns the run as stored and
	// whether this call created it. Approving a burst run queues its
	// changes under HeldEventPrefix event ids.
	HoldBurstChange(ctx context.Context, r *HeldRun, c *Change, rec HeldRecord) (run *HeldRun, created bool, err error)
	// CountSynced is how many records of t have a sync state: the base
	// of a burst's share.
	CountSynced(ctx context.Context, t ObjectType) (int64, error)
}

// HeldAuditKey is the key of the audit entry a held run's decision
// appends to the settings audit trail.
func HeldAuditKey(id int64) string { return fmt.Sprintf("held.%d", id) }
