package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/billsync/billsync"
)

// Reading is one look at a rule's condition.
type Reading struct {
	Bad    bool   // the condition holds now
	Detail string // what was seen, in words, for the message and the API
}

// Rule is one condition an operator must act on.
type Rule struct {
	Name  string // stable id in messages and the API: stream_down
	Title string // what an operator reads: "Salesforce event stream down"
	// For is how long the condition must hold, at consecutive
	// evaluations, before the rule fires; 0 fires at the first bad
	// reading. A rule with For > 0 needs at least two readings, so a
	// blip between two evaluations never fires it.
	For time.Duration
	// Check reads the condition. An error leaves the rule as it was:
	// billsync cannot say, which is no reason to fire or to resolve.
	Check func(ctx context.Context, now time.Time) (Reading, error)
}

// Rule names, as messages and the admin API carry them.
const (
	StreamDown        = "stream_down"
	PendingTooOld     = "pending_too_old"
	DeadLettersRising = "dead_letters_rising"
	APIBudgetHigh     = "api_budget_high"
	ConflictsHeld     = "conflicts_held"
	RunsHeld          = "runs_held"
)

// QueueStats reads the queue's figures (billsync.Queue has it).
type QueueStats interface {
	Stats(ctx context.Context) (billsync.QueueStats, error)
}

// HeldCounter counts the conflicts held for a person (billsync.ConflictStore).
type HeldCounter interface {
	CountHeld(ctx context.Context) (int64, error)
}

// StreamRule fires when down says the event subscription is down for
// at least forDur. down is the listener's Err: nil while this replica is
// connected or another replica holds the subscription (standby is not
// down), else why not.
func StreamRule(down func() error, forDur time.Duration) Rule {
	return Rule{Name: StreamDown, Title: "Salesforce event stream down", For: forDur,
		Check: func(context.Context, time.Time) (Reading, error) {
			if err := down(); err != nil {
				return Reading{Bad: true, Detail: "no Salesforce changes reach billsync: " + err.Error()}, nil
			}
			return Reading{Detail: "the event subscription is connected (or held by another replica)"}, nil
		}}
}

// PendingRule fires when the oldest pending change is older than maxAge.
func PendingRule(q QueueStats, maxAge time.Duration) Rule {
	return Rule{Name: PendingTooOld, Title: "Oldest pending change too old",
		Check: func(ctx context.Context, now time.Time) (Reading, error) {
			st, err := q.Stats(ctx)
			if err != nil {
				return Reading{}, err
			}
			if st.OldestPending.IsZero() {
				return Reading{Detail: "nothing is pending"}, nil
			}
			age := max(now.Sub(st.OldestPending), 0).Round(time.Second)
			return Reading{Bad: age > maxAge, Detail: fmt.Sprintf("%d pending, the oldest for %v (alerts.pendingAge %v)",
				st.Pending, age, maxAge)}, nil
		}}
}

// DeadLetterRule fires while the dead-letter count is higher than it was
// window ago (or than at the first reading, in the first window), and
// resolves once a whole window passed without a new dead letter.
func DeadLetterRule(q QueueStats, window time.Duration) Rule {
	type sample struct {
		at    time.Time
		count int64
	}
	var seen []sample // oldest first; the first is at or before now-window
	return Rule{Name: DeadLettersRising, Title: "Dead letters rising",
		Check: func(ctx context.Context, now time.Time) (Reading, error) {
			st, err := q.Stats(ctx)
			if err != nil {
				return Reading{}, err
			}
			seen = append(seen, sample{now, st.DeadLetters})
			// Keep one sample at or before the window's start, the
			// baseline, and drop what is older.
			for len(seen) > 1 && !seen[1].at.After(now.Add(-window)) {
				seen = seen[1:]
			}
			base := seen[0].count
			if st.DeadLetters > base {
				return Reading{Bad: true, Detail: fmt.Sprintf("%d dead letters, %d more than %v ago (billsync deadletters list)",
					st.DeadLetters, st.DeadLetters-base, window)}, nil
			}
			return Reading{Detail: fmt.Sprintf("%d dead letters, none new in %v", st.DeadLetters, window)}, nil
		}}
}

// BudgetRule fires when more than share of the org's daily API requests
// are used. usage is the REST client's Limits; before any answer told
// the figures (ok false) the rule stays as it was.
func BudgetRule(usage func() (used, max int, ok bool), share float64) Rule {
	return Rule{Name: APIBudgetHigh, Title: "Salesforce API budget nearly spent",
		Check: func(context.Context, time.Time) (Reading, error) {
			used, limit, ok := usage()
			if !ok || limit <= 0 {
				return Reading{}, errNoFigures
			}
			return Reading{Bad: float64(used) > share*float64(limit),
				Detail: fmt.Sprintf("%d of %d daily API requests used (alerts.budgetShare %v)", used, limit, share)}, nil
		}}
}

// errNoFigures is a budget not yet known: not worth a warning.
var errNoFigures = fmt.Errorf("no API usage figures yet")

// HeldRule fires while any conflict waits for a person.
func HeldRule(c HeldCounter) Rule {
	return Rule{Name: ConflictsHeld, Title: "Conflicts held for a decision",
		Check: func(ctx context.Context, _ time.Time) (Reading, error) {
			n, err := c.CountHeld(ctx)
			if err != nil {
				return Reading{}, err
			}
			return Reading{Bad: n > 0, Detail: fmt.Sprintf("%d conflicts wait for a decision (billsync conflicts list)", n)}, nil
		}}
}

// HeldRunLister lists the runs the mass-change guard held (billsync.Store
// has it).
type HeldRunLister interface {
	HeldRuns(ctx context.Context, f billsync.HeldRunFilter) ([]billsync.HeldRun, error)
}

// HeldRunsRule fires while a run the mass-change guard held waits for an
// admin: nothing of it is applied until someone approves or discards it.
func HeldRunsRule(l HeldRunLister) Rule {
	return Rule{Name: RunsHeld, Title: "Mass change held for approval",
		Check: func(ctx context.Context, _ time.Time) (Reading, error) {
			runs, err := l.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending, Limit: 100})
			if err != nil {
				return Reading{}, err
			}
			return Reading{Bad: len(runs) > 0, Detail: fmt.Sprintf("%d runs held by the mass-change guard wait for approval (billsync held)", len(runs))}, nil
		}}
}
