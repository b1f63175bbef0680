package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// Observer receives one call per sync attempt (metrics).
type Observer interface {
	ObserveSync(direction, object, outcome string, latency time.Duration)
}

// Config wires an Engine.
type Config struct {
	Settings billsync.SettingsStore
	State    billsync.StateStore
	CRM      billsync.CRM
	Billing  billsync.Billing
	// Conflicts records conflicts (D3); Queue takes the changes that
	// resolving a conflict or a resync queues (H2).
	Conflicts billsync.ConflictStore
	Queue     billsync.Queue
	// OnEnqueue wakes the runner after the engine queued work itself.
	OnEnqueue func()
	// LimitPause is how long every Salesforce-bound change waits after
	// Salesforce answered REQUEST_LIMIT_EXCEEDED (H3); default 1 minute.
	// The first change after the pause probes whether usage has dropped.
	LimitPause time.Duration
	Mapping    *mapping.Mapping // nil: mapping.Default()

	// MaxAttempts bounds retries of transient failures (H3); default 8.
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after attempt n failed;
	// default: 1 s doubling, capped at 5 min, with ±20 % jitter.
	Backoff  func(attempt int) time.Duration
	Observer Observer
	Logger   *slog.Logger
	Clock    func() time.Time
}

// Engine applies changes. It is safe for concurrent use by changes of
// different partitions.
type Engine struct {
	cfg Config
	m   *mapping.Mapping
	log *slog.Logger
	now func() time.Time

	// createMu closes the one window the partitions cannot: a record
	// created in Salesforce is created in billing by a change that is not
	// yet in the record's account partition (its account is not known
	// until the record is read). Its billing webhook, in that partition,
	// must not upsert to Salesforce before the new id map is saved, or it
	// would create a second Salesforce record. Billing-side changes of
	// records with no sync state hold the read lock; creates from
	// Salesforce hold the write lock from the billing create to the saved
	// state. Across a crash or between replicas the lock cannot help; there
	// the billing record's LinkField makes the webhook link the twin
	// (linkTwin), and the lock only keeps one process from racing itself
	// into two saves of the id map.
	createMu sync.RWMutex

	jobsOnce sync.Once
	resyncs  *resyncJobs

	quoteOnce sync.Once
	quotes    *quoteCache // describe and pricebook lookups for quote sync

	pauseMu     sync.Mutex
	pausedUntil time.Time

	settingsMu sync.Mutex
	settingsAt time.Time
	cached     billsync.Settings
}

// settingsTTL bounds how stale the settings a change sees may be when
// another replica changed them; changes made through this process's admin
// API take effect at once (InvalidateSettings).
const settingsTTL = 2 * time.Second

// settings returns the current settings, read from the store at most once
// per settingsTTL instead of once per change.
func (e *Engine) settings(ctx context.Context) (billsync.Settings, error) {
	e.settingsMu.Lock()
	defer e.settingsMu.Unlock()
	if e.cached != nil && time.Since(e.settingsAt) < settingsTTL {
		return e.cached, nil
	}
	stored, err := e.cfg.Settings.Settings(ctx)
	if err != nil {
		return nil, err
	}
	e.cached, e.settingsAt = billsync.NewSettings(stored), time.Now()
	return e.cached, nil
}

// InvalidateSettings makes the next change read the settings afresh; the
// admin API calls it after every change, so a switch takes effect for the
// next change without a restart (A4).
func (e *Engine) InvalidateSettings() {
	e.settingsMu.Lock()
	e.cached = nil
	e.settingsMu.Unlock()
}

// PausedUntil is when Salesforce calls may resume after the org's API
// limit was hit; zero when they are not paused. The runner claims nothing
// while paused, so no work is lost or reordered.
func (e *Engine) PausedUntil() time.Time {
	e.pauseMu.Lock()
	defer e.pauseMu.Unlock()
	if e.now().After(e.pausedUntil) {
		return time.Time{}
	}
	return e.pausedUntil
}

func (e *Engine) pauseForLimit() time.Time {
	e.pauseMu.Lock()
	defer e.pauseMu.Unlock()
	until := e.now().Add(e.cfg.LimitPause)
	if until.After(e.pausedUntil) {
		e.pausedUntil = until
		e.log.Warn("Salesforce API limit exceeded: pausing Salesforce calls", "until", until)
	}
	return e.pausedUntil
}

// New checks cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Settings == nil || cfg.State == nil || cfg.CRM == nil || cfg.Billing == nil || cfg.Conflicts == nil {
		return nil, errors.New("engine: Settings, State, Conflicts, CRM and Billing are required")
	}
	if cfg.Mapping == nil {
		cfg.Mapping = mapping.Default()
	}
	if err := cfg.Mapping.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.LimitPause <= 0 {
		cfg.LimitPause = time.Minute
	}
	return &Engine{cfg: cfg, m: cfg.Mapping, log: cfg.Logger, now: func() time.Time { return cfg.Clock().UTC() }}, nil
}

func (e *Engine) conflicts() billsync.ConflictStore { return e.cfg.Conflicts }

// Mapping is the mapping in use.
func (e *Engine) Mapping() *mapping.Mapping { return e.m }

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

// Disposition says what the queue does with a change after an attempt.
type Disposition int

const (
	Done  Disposition = iota // remove it; the log entries say how it ended
	Retry                    // try again at RetryAt, keeping its place
	Dead                     // move it to the dead letters (H3)
)

func (d Disposition) String() string {
	return [...]string{"done", "retry", "dead"}[d]
}

// Result is the outcome of one attempt.
type Result struct {
	Disposition Disposition
	RetryAt     time.Time
	Entries     []billsync.LogEntry
	Err         error // the failure that led to Retry or Dead
}

// Process makes one attempt at a change and reports what became of it. It
// never returns without at least one log entry (B5, G1).
func (e *Engine) Process(ctx context.Context, c billsync.Change) Result {
	start := e.now()
	a := &attempt{e: e, c: c, start: start}
	settings, err := e.settings(ctx)
	if err != nil {
		a.fail(err, "", "")
		return a.result()
	}
	a.settings = settings
	switch {
	case c.Op == billsync.OpResolve:
		a.dir = billsync.ToSalesforce
		if c.Source == billsync.SideSalesforce {
			a.dir = billsync.ToBilling
		}
		e.resolve(ctx, a)
		return a.result()
	case c.Op == billsync.OpResync:
		a.dir = billsync.ToSalesforce
		if c.Source == billsync.SideSalesforce {
			a.dir = billsync.ToBilling
		}
		e.resyncRecord(ctx, a)
		return a.result()
	}
	switch c.Source {
	case billsync.SideBilling:
		a.dir = billsync.ToSalesforce
		e.toSalesforce(ctx, a)
	case billsync.SideSalesforce:
		a.dir = billsync.ToBilling
		e.toBilling(ctx, a)
	default:
		a.dir = billsync.ToSalesforce
		a.finish(billsync.OutcomeFailed, billsync.ReasonUnsupported, "", "", fmt.Sprintf("unknown change source %q", c.Source), "", "")
	}
	return a.result()
}

// attempt collects the log entries and disposition of one Process call.
type attempt struct {
	e        *Engine
	c        billsync.Change
	start    time.Time
	dir      billsync.Direction
	settings billsync.Settings

	entries []billsync.LogEntry
	disp    Disposition
	retryAt time.Time
	err     error
}

func (a *attempt) entry(obj billsync.ObjectType, billingID, sfID, op string, outcome billsync.Outcome, reason, code, msg string) billsync.LogEntry {
	now := a.e.now()
	return billsync.LogEntry{
		Time: now, Direction: a.dir, Object: obj, BillingID: billingID, SalesforceID: sfID,
		Operation: op, Outcome: outcome, Reason: reason, ErrorCode: code, Message: msg,
		Attempt: a.c.Attempt, Latency: now.Sub(a.c.EnqueuedAt), EventID: a.c.EventID, ChangeID: a.c.ID,
	}
}

// note adds an entry about a record other than the change's own (a parent
// brought along).
func (a *attempt) note(le billsync.LogEntry) {
	a.entries = append(a.entries, le)
	a.observe(le)
}

// finish records the change's own outcome. Done unless set otherwise.
func (a *attempt) finish(outcome billsync.Outcome, reason, op, code, msg, billingID, sfID string) {
	if billingID == "" && a.c.Source == billsync.SideBilling {
		billingID = a.c.RecordID
	}
	if sfID == "" && a.c.Source == billsync.SideSalesforce {
		sfID = a.c.RecordID
	}
	le := a.entry(a.c.Object, billingID, sfID, op, outcome, reason, code, msg)
	a.entries = append(a.entries, le)
	a.observe(le)
}

func (a *attempt) observe(le billsync.LogEntry) {
	if a.e.cfg.Observer != nil {
		a.e.cfg.Observer.ObserveSync(string(le.Direction), string(le.Object), string(le.Outcome), le.Latency)
	}
}

// fail records a failure: transient ones are retried with backoff until
// the attempt limit, then dead-lettered; permanent ones go to the dead
// letters at once (H3). The partition moves on either way.
func (a *attempt) fail(err error, billingID, sfID string) {
	a.failOp(err, "", billingID, sfID)
}

func (a *attempt) failOp(err error, op, billingID, sfID string) {
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
	case billsync.IsRateLimited(err):
		// Not the record's fault: wait out the pause without spending an
		// attempt, however long the org stays over its limit.
		a.disp = Retry
		a.retryAt = a.e.pauseForLimit()
		a.finish(billsync.OutcomeRetrying, reason, op, code, msg+"; Salesforce calls paused until "+a.retryAt.Format(time.RFC3339), billingID, sfID)
	case billsync.IsTransient(err) && a.c.Attempt < a.e.cfg.MaxAttempts:
		a.disp = Retry
		a.retryAt = a.e.now().Add(a.e.cfg.Backoff(a.c.Attempt))
		a.finish(billsync.OutcomeRetrying, reason, op, code, msg, billingID, sfID)
	case billsync.IsTransient(err):
		a.disp = Dead
		a.finish(billsync.OutcomeDead, billsync.ReasonRetryLimit, op, code,
			fmt.Sprintf("gave up after %d attempts: %s", a.c.Attempt, msg), billingID, sfID)
	default:
		a.disp = Dead
		a.finish(billsync.OutcomeDead, reason, op, code, msg, billingID, sfID)
	}
}

// wait retries later without counting it as a failure of the record: used
// while a parent is not in Salesforce yet (B4). It still gives up at the
// attempt limit, so a partition never blocks forever.
func (a *attempt) wait(reason, msg, billingID, sfID string) {
	a.failOp(&billsync.RemoteError{System: billsync.SystemSalesforce, Code: reason, Message: msg, Transient: true}, "wait", billingID, sfID)
	a.entries[len(a.entries)-1].Reason = reason
}

func (a *attempt) result() Result {
	return Result{Disposition: a.disp, RetryAt: a.retryAt, Entries: a.entries, Err: a.err}
}

func notFound(err error) bool { return billsync.ErrorCode(err) == billsync.ENOTFOUND }

func decodeObject(b json.RawMessage) (billsync.Entity, error) {
	if len(b) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "change has no payload")
	}
	return billsync.DecodeEntity(b)
}
