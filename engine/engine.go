package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

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
	// Held keeps the runs the mass-change guard holds; without it a
	// resync over a guard limit fails rather than apply, and bursts of
	// deletes are not guarded.
	Held billsync.HeldRunStore
	// BurstWindow is how far back the guard counts the deletes of live
	// changes; default DefaultBurstWindow.
	BurstWindow time.Duration
	// OnEnqueue wakes the runner after the engine queued work itself.
	OnEnqueue func()
	// LimitPause is how long every Salesforce-bound change waits after
	// Salesforce answered REQUEST_LIMIT_EXCEEDED (H3); default 1 minute.
	// The first change after the pause probes whether usage has dropped.
	LimitPause time.Duration
	Mapping    *mapping.Mapping // nil: mapping.Default()
	// Quotes syncs quote changes (billing → Salesforce only).
	Quotes QuoteSyncer
	// Unguarded says Salesforce does not keep the records' revisions
	// (salesforce.changeSource cdc, where BillingSyncTrigger need not be
	// deployed): nothing there refuses a write decided from a revision a
	// person's edit has moved past. The engine then never decides an
	// update from the values it last agreed on; it reads the Salesforce
	// record first, so an edit billsync has not heard of yet is reconciled
	// rather than overwritten; an edit saved between that read and the
	// write is found from its change event afterwards (cdc_overwrite.go).
	Unguarded bool

	// MaxAttempts bounds retries of transient failures (H3); default 8.
	MaxAttempts int
	// Backoff is the wait before attempt n+1 after attempt n failed;
	// default: 1 s doubling, capped at 5 min, with ±20 % jitter.
	Backoff  func(attempt int) time.Duration
	Observer attempt.Observer
	Logger   *slog.Logger
	Clock    func() time.Time
}

// QuoteSyncer applies one quote change, recording its outcome in a; the
// quote sync package implements it.
type QuoteSyncer interface {
	SyncQuote(ctx context.Context, a *attempt.Attempt)
}

// Engine applies changes. It is safe for concurrent use by changes of
// different partitions.
type Engine struct {
	cfg    Config
	policy attempt.Policy // how failures retry and give up
	m      *mapping.Mapping
	caps   billsync.BillingCapabilities // the billing platform's, read once: they do not change while it runs
	log    *slog.Logger
	now    func() time.Time

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
	bursts   burstCounter // the mass-change guard's count of live deletes

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
		cfg.Backoff = attempt.DefaultBackoff
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
	e := &Engine{cfg: cfg, m: cfg.Mapping, caps: cfg.Billing.Capabilities(), log: cfg.Logger, now: func() time.Time { return cfg.Clock().UTC() }}
	e.policy = attempt.Policy{MaxAttempts: cfg.MaxAttempts, Backoff: cfg.Backoff, PauseForLimit: e.pauseForLimit, Now: e.now}
	if cfg.Observer != nil {
		e.policy.Observer = cfg.Observer
	}
	return e, nil
}

func (e *Engine) conflicts() billsync.ConflictStore { return e.cfg.Conflicts }

// Mapping is the mapping in use.
func (e *Engine) Mapping() *mapping.Mapping { return e.m }

// Process makes one attempt at a change and reports what became of it. It
// never returns without at least one log entry (B5, G1).
func (e *Engine) Process(ctx context.Context, c billsync.Change) attempt.Result {
	// Every store write of the attempt (sync state, conflicts, log) is
	// refused once another claimer took c over: a stalled replica must not
	// overwrite what that claimer applied.
	ctx = billsync.Fenced(ctx, c)
	dir := billsync.ToSalesforce
	if c.Source == billsync.SideSalesforce {
		dir = billsync.ToBilling
	}
	settings, err := e.settings(ctx)
	a := attempt.New(&e.policy, c, dir, settings)
	if err != nil {
		a.Fail(err, "", "")
		return a.Result()
	}
	switch {
	case c.Op == billsync.OpResolve:
		e.resolve(ctx, a)
	case c.Op == billsync.OpResync:
		e.resyncRecord(ctx, a)
	case c.Source == billsync.SideBilling:
		e.toSalesforce(ctx, a)
	case c.Source == billsync.SideSalesforce:
		e.toBilling(ctx, a)
	default:
		a.Finish(billsync.OutcomeFailed, billsync.ReasonUnsupported, "", "", fmt.Sprintf("unknown change source %q", c.Source), "", "")
	}
	return a.Result()
}

func notFound(err error) bool { return billsync.ErrorCode(err) == billsync.ENOTFOUND }

func decodeObject(b json.RawMessage) (billsync.Entity, error) {
	if len(b) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "change has no payload")
	}
	return billsync.DecodeEntity(b)
}
