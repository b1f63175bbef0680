package runner

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

// Processor applies changes: the engine.
type Processor interface {
	// Process makes one attempt at c and reports what became of it.
	Process(ctx context.Context, c billsync.Change) attempt.Result
	// PausedUntil is when Salesforce calls may resume after the org's API
	// limit was hit; zero when they are not paused.
	PausedUntil() time.Time
}

// Config wires a Runner.
type Config struct {
	Processor Processor
	Queue     billsync.Queue
	// Workers is how many partitions are processed at once; default 8.
	Workers int
	// Lease is how long a claimed change is held before another claim may
	// take it over (a crashed worker); default 2 minutes.
	Lease time.Duration
	// Poll is the longest wait between claims when nothing wakes the
	// runner; default 250 ms.
	Poll time.Duration
	// Budget reports the org's API usage (from Sforce-Limit-Info). Above
	// BudgetShare of the daily allocation (default 0.9) the runner slows
	// to one claim round per SlowPoll (default 1 s), so billsync leaves
	// room for the org's other integrations, and logs it.
	Budget      func() (used, max int, ok bool)
	BudgetShare float64
	SlowPoll    time.Duration
	// Wake is the signal that makes the runner claim at once; nil: one of
	// its own. Given, it lets the parts that enqueue work (the engine, the
	// webhook server, the listener) be built before the runner.
	Wake   Signal
	Logger *slog.Logger
}

// Signal wakes a Runner. Wakes while one is pending merge into it.
type Signal chan struct{}

// NewSignal returns a Signal for Config.Wake.
func NewSignal() Signal { return make(Signal, 1) }

// Wake makes the runner that holds s claim now.
func (s Signal) Wake() {
	select {
	case s <- struct{}{}:
	default:
	}
}

// Runner claims changes and applies them: one change per partition at a
// time (the queue guarantees it), up to Workers partitions in parallel.
type Runner struct {
	cfg  Config
	wake Signal
	slow bool // over the API budget share
}

// overBudget reports whether the org's API usage is above the share
// billsync may use at full speed, logging each crossing.
func (r *Runner) overBudget() bool {
	if r.cfg.Budget == nil {
		return false
	}
	used, max, ok := r.cfg.Budget()
	over := ok && max > 0 && float64(used) >= r.cfg.BudgetShare*float64(max)
	if over != r.slow {
		r.slow = over
		if over {
			r.cfg.Logger.Warn("Salesforce API usage above the budget share: slowing down", "used", used, "max", max, "share", r.cfg.BudgetShare)
		} else {
			r.cfg.Logger.Info("Salesforce API usage back under the budget share: full speed", "used", used, "max", max)
		}
	}
	return over
}

// New returns a Runner; call Run to start it.
func New(cfg Config) *Runner {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BudgetShare <= 0 || cfg.BudgetShare > 1 {
		cfg.BudgetShare = 0.9
	}
	if cfg.SlowPoll <= 0 {
		cfg.SlowPoll = time.Second
	}
	if cfg.Wake == nil {
		cfg.Wake = NewSignal()
	}
	return &Runner{cfg: cfg, wake: cfg.Wake}
}

// Wake makes the runner claim now (new work was enqueued).
func (r *Runner) Wake() { r.wake.Wake() }

// Run processes changes until ctx ends; in-flight changes finish first.
func (r *Runner) Run(ctx context.Context) error {
	slots := make(chan struct{}, r.cfg.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake:
		case <-timer.C:
		}
		if until := r.cfg.Processor.PausedUntil(); !until.IsZero() {
			// Salesforce's API limit was hit: claim nothing until the pause
			// ends (H3).
			timer.Reset(time.Until(until) + 10*time.Millisecond)
			continue
		}
		slow := r.overBudget()
		r.claim(ctx, slots, &wg, slow)
		if !slow {
			timer.Reset(r.cfg.Poll)
			continue
		}
		// Slow down: wake-ups wait for the next slow round.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.cfg.SlowPoll):
		}
		timer.Reset(0)
	}
}

// claim starts changes on free worker slots until the queue has none
// ready or the slots run out; slowed down, it makes one round of at most
// an eighth of the workers.
func (r *Runner) claim(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup, slow bool) {
	for {
		free := r.cfg.Workers - len(slots)
		if slow {
			free = min(free, max(1, r.cfg.Workers/8))
		}
		if free <= 0 {
			return
		}
		changes, err := r.cfg.Queue.Claim(ctx, free, r.cfg.Lease)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Error("claiming changes", "err", err)
			}
			return
		}
		if len(changes) == 0 {
			return
		}
		for _, c := range changes {
			slots <- struct{}{}
			wg.Add(1)
			go func(c billsync.Change) {
				defer wg.Done()
				defer func() { <-slots; r.Wake() }()
				r.apply(ctx, c)
			}(c)
		}
		if slow {
			return // one small round per SlowPoll
		}
	}
}

// apply processes one change and records its disposition. The queue write
// uses a context that outlives a shutdown request, so a finished attempt
// is always recorded.
func (r *Runner) apply(ctx context.Context, c billsync.Change) {
	res := r.cfg.Processor.Process(ctx, c)
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var err error
	switch res.Disposition {
	case attempt.Done:
		err = r.cfg.Queue.Complete(qctx, c.ID, res.Entries...)
	case attempt.Retry:
		err = r.cfg.Queue.Retry(qctx, c.ID, res.RetryAt, billsync.ErrorMessage(res.Err), res.Entries...)
	case attempt.Dead:
		err = r.cfg.Queue.Bury(qctx, c.ID, errorCode(res.Err), billsync.ErrorMessage(res.Err), res.Entries...)
	}
	if err != nil {
		// The change stays claimed until its lease runs out, then is
		// claimed again: at-least-once, and the engine's stale and echo
		// checks make the repeat harmless.
		r.cfg.Logger.Error("recording the outcome of a change", "change", c.ID, "disposition", res.Disposition.String(), "err", err)
	}
}

func errorCode(err error) string {
	if c := billsync.RemoteCode(err); c != "" {
		return c
	}
	return billsync.ErrorCode(err)
}
