// Package attempt records one attempt at applying a queued change: the
// sync-log entries it produced and what the queue does with the change
// next (done, retry at a time, dead letter). Record sync, quote sync and
// the runner share it, so every kind of change fails, retries and gives up
// by the same rules. It decides nothing about records and does no I/O.
package attempt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// Disposition says what the queue does with a change after an attempt.
type Disposition int

const (
	Done  Disposition = iota // remove it; the log entries say how it ended
	Retry                    // try again at RetryAt, keeping its place
	Dead                     // move it to the dead letters
	// Lost: the store refused a write with billsync.ErrLeaseLost; the
	// change was claimed again by another claimer after this one's lease
	// ran out, so nothing more is written for it, not even its outcome.
	Lost
)

func (d Disposition) String() string {
	return [...]string{"done", "retry", "dead", "lost"}[d]
}

// Result is the outcome of one attempt.
type Result struct {
	Disposition Disposition
	RetryAt     time.Time
	Entries     []billsync.LogEntry
	Err         error // the failure that led to Retry or Dead
}

// Observer receives one call per sync-log entry (metrics).
type Observer interface {
	ObserveSync(direction, object, outcome string, latency time.Duration)
}

// Policy is how failures are treated; one Policy serves every attempt.
type Policy struct {
	// MaxAttempts bounds retries of transient failures; default 8.
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after attempt n failed;
	// default DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// PauseForLimit is called when the remote refused a call for spent API
	// allowance; it returns when calls may resume. Nil: retry with backoff.
	PauseForLimit func() time.Time
	Observer      Observer
	// Now is the clock, in UTC; default time.Now().UTC().
	Now func() time.Time
}

func (p *Policy) now() time.Time {
	if p.Now == nil {
		return time.Now().UTC()
	}
	return p.Now()
}

func (p *Policy) maxAttempts() int {
	if p.MaxAttempts <= 0 {
		return 8
	}
	return p.MaxAttempts
}

func (p *Policy) backoff(n int) time.Duration {
	if p.Backoff == nil {
		return DefaultBackoff(n)
	}
	return p.Backoff(n)
}

// DefaultBackoff is 1 s doubling per attempt, capped at 5 minutes, with
// ±20 % jitter so that retries of many partitions do not arrive together.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := time.Second << min(attempt-1, 9)
	d = min(d, 5*time.Minute)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// Attempt collects the log entries and disposition of one attempt at a
// change. It is used by one goroutine.
type Attempt struct {
	Change   billsync.Change
	Dir      billsync.Direction
	Settings billsync.Settings

	policy  *Policy
	entries []billsync.LogEntry
	disp    Disposition
	retryAt time.Time
	err     error
}

// New starts an attempt at c in direction dir under policy p.
func New(p *Policy, c billsync.Change, dir billsync.Direction, settings billsync.Settings) *Attempt {
	return &Attempt{Change: c, Dir: dir, Settings: settings, policy: p}
}

// Now is the policy's clock.
func (a *Attempt) Now() time.Time { return a.policy.now() }

// Entry builds a log entry of this attempt about any record.
func (a *Attempt) Entry(obj billsync.ObjectType, billingID, sfID, op string, outcome billsync.Outcome, reason, code, msg string) billsync.LogEntry {
	now := a.policy.now()
	return billsync.LogEntry{
		Time: now, Direction: a.Dir, Object: obj, BillingID: billingID, SalesforceID: sfID,
		Operation: op, Outcome: outcome, Reason: reason, ErrorCode: code, Message: msg,
		Attempt: a.Change.Attempt, Latency: now.Sub(a.Change.EnqueuedAt), EventID: a.Change.EventID, ChangeID: a.Change.ID,
	}
}

// Note adds an entry about a record other than the change's own (a parent
// brought along, a quote line).
func (a *Attempt) Note(le billsync.LogEntry) {
	a.entries = append(a.entries, le)
	a.observe(le)
}

// Finish records the change's own outcome. The disposition stays Done
// unless a failure set it otherwise.
func (a *Attempt) Finish(outcome billsync.Outcome, reason, op, code, msg, billingID, sfID string) {
	if billingID == "" && a.Change.Source == billsync.SideBilling {
		billingID = a.Change.RecordID
	}
	if sfID == "" && a.Change.Source == billsync.SideSalesforce {
		sfID = a.Change.RecordID
	}
	le := a.Entry(a.Change.Object, billingID, sfID, op, outcome, reason, code, msg)
	a.entries = append(a.entries, le)
	a.observe(le)
}

func (a *Attempt) observe(le billsync.LogEntry) {
	if a.policy.Observer != nil {
		a.policy.Observer.ObserveSync(string(le.Direction), string(le.Object), string(le.Outcome), le.Latency)
	}
}

// Fail records a failure: transient ones are retried with backoff until
// the attempt limit, then dead-lettered; permanent ones go to the dead
// letters at once. The partition moves on either way.
func (a *Attempt) Fail(err error, billingID, sfID string) {
	a.FailOp(err, "", billingID, sfID)
}

// FailOp is Fail naming the operation that failed. A lost lease
// (billsync.ErrLeaseLost) makes the attempt Lost for good, with no entry:
// the store would refuse to log it.
func (a *Attempt) FailOp(err error, op, billingID, sfID string) {
	if a.disp == Lost {
		return
	}
	if errors.Is(err, billsync.ErrLeaseLost) {
		a.disp, a.err = Lost, err
		return
	}
	a.err = err
	code := billsync.RemoteCode(err)
	if code == "" {
		code = billsync.ErrorCode(err)
	}
	msg := billsync.ErrorMessage(err)
	var re *billsync.RemoteError
	if errors.As(err, &re) && re.Message != "" {
		msg = re.Error()
	}
	reason := billsync.ReasonRemoteError
	var be *billsync.Error
	if errors.As(err, &be) && be.Code == billsync.EINVALID {
		reason = billsync.ReasonValidation
	}
	switch {
	case billsync.IsRateLimited(err) && a.policy.PauseForLimit != nil:
		// Not the record's fault: wait out the pause without spending an
		// attempt, however long the org stays over its limit.
		a.disp = Retry
		a.retryAt = a.policy.PauseForLimit()
		a.Finish(billsync.OutcomeRetrying, reason, op, code, msg+"; Salesforce calls paused until "+a.retryAt.Format(time.RFC3339), billingID, sfID)
	case billsync.IsTransient(err) && a.Change.Attempt < a.policy.maxAttempts():
		a.disp = Retry
		a.retryAt = a.policy.now().Add(a.policy.backoff(a.Change.Attempt))
		a.Finish(billsync.OutcomeRetrying, reason, op, code, msg, billingID, sfID)
	case billsync.IsTransient(err):
		a.disp = Dead
		a.Finish(billsync.OutcomeDead, billsync.ReasonRetryLimit, op, code,
			fmt.Sprintf("gave up after %d attempts: %s", a.Change.Attempt, msg), billingID, sfID)
	default:
		a.disp = Dead
		a.Finish(billsync.OutcomeDead, reason, op, code, msg, billingID, sfID)
	}
}

// Wait retries later without counting it as a failure of the record: used
// while a parent is not in Salesforce yet. It still gives up at the
// attempt limit, so a partition never blocks forever.
func (a *Attempt) Wait(reason, msg, billingID, sfID string) {
	if a.disp == Lost {
		return
	}
	msg = strings.TrimPrefix(msg, reason+": ")
	re := &billsync.RemoteError{System: billsync.SystemSalesforce, Code: reason, Message: msg, Transient: true}
	a.FailOp(re, "wait", billingID, sfID)
	last := &a.entries[len(a.entries)-1]
	last.Reason = reason
	// Waiting is billsync's own decision, not an error Salesforce sent:
	// the entry says why in plain words, the code is in reason.
	last.Message = strings.Replace(last.Message, re.Error(), msg, 1)
}

// Entries are the log entries so far.
func (a *Attempt) Entries() []billsync.LogEntry { return a.entries }

// Result is the attempt's outcome.
func (a *Attempt) Result() Result {
	return Result{Disposition: a.disp, RetryAt: a.retryAt, Entries: a.entries, Err: a.err}
}
