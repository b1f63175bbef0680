package runner

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
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
	// BulkWorkers, when above Workers, is how many partitions are
	// processed at once while a large backlog is due: once a claim finds
	// at least as many runs due as it has free workers, the runner widens
	// to BulkWorkers (Wide), so that enough changes join the Salesforce
	// batcher at once for its writes to go as Bulk API 2.0 ingest jobs;
	// it narrows again when a claim finds fewer runs due than it asked
	// for. 0: never wider than Workers.
	BulkWorkers int
	// RunLength is the most changes of one partition claimed together
	// (its head and those queued behind it); default 100. A run's
	// changes of one record fold into the newest, and its records are
	// applied by dependency level, each level at once, so the writes of a
	// level share calls.
	RunLength int
	// KeepSalesforceChanges applies each Salesforce change of a record on
	// its own instead of folding it into the newest: in an org without
	// the trigger (salesforce.changeSource cdc) the engine tells an edit
	// billsync overwrote from the change event's own values, which a
	// folded change would take with it.
	KeepSalesforceChanges bool
	// Join, when set, is called around each change's processing with
	// the context it runs under, and returns the context to process it
	// with and the call that ends it. It lets the Salesforce batcher
	// know who may still add to a batch (batch.Batcher.Join).
	Join func(ctx context.Context) (context.Context, func())
	// Lease is how long a claimed change is held before another claim may
	// take it over (a crashed worker); default 2 minutes. A run renews it
	// while at work, up to RenewFor.
	Lease time.Duration
	// RenewFor is how long after its claim a run's lease is still renewed
	// while the run is at work (a change of it being processed, its
	// writes waiting in the Salesforce batcher): every Lease/3 the runner
	// extends the lease of every such run in one store call, so a Bulk
	// API ingest job that outlasts Lease does not hand its run to another
	// claimer (renew.go). Past RenewFor the lease is left to run out, so a
	// step stuck in a call holds its partition for at most about
	// RenewFor + Lease. Default 10 minutes, the time the Salesforce
	// batcher allows one Bulk ingest job (its BulkTimeout); negative:
	// leases are never renewed.
	RenewFor time.Duration
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
	Wake *Signal
	// Quiet is how long after the latest wake the runner, once it has
	// claimed everything due, reports itself idle (Idle); default 50 ms.
	Quiet time.Duration
	// QueueTimeout is how long one queue write (recording an outcome,
	// handing changes back) may take; default 30 s.
	QueueTimeout time.Duration
	Logger       *slog.Logger
}

// Signal wakes a Runner: whatever enqueues work calls Wake. Wakes while
// one is pending merge into it.
type Signal struct {
	c    chan struct{}
	last atomic.Int64 // unix ns of the latest Wake: new work arrived
}

// NewSignal returns a Signal for Config.Wake.
func NewSignal() *Signal { return &Signal{c: make(chan struct{}, 1)} }

// Wake makes the runner that holds s claim now: new work was enqueued.
func (s *Signal) Wake() {
	s.last.Store(time.Now().UnixNano())
	s.poke()
}

// poke makes the runner claim now without new work arriving (a worker
// slot came free).
func (s *Signal) poke() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}

// Runner claims partition runs and applies them: one run per partition at
// a time (the queue guarantees it), up to Workers partitions in parallel.
type Runner struct {
	cfg  Config
	wake *Signal
	slow bool // over the API budget share
	// drained: the latest claim took everything due and nothing was
	// enqueued since (Idle).
	drained atomic.Bool
	// wide: the latest claim found more runs due than it could take, so
	// the runner claims up to BulkWorkers (Wide).
	wide atomic.Bool
	// slots holds one token per run in flight.
	slots chan struct{}
	// starting counts claimed runs whose first change has not joined
	// the batcher yet: more work on its way (Idle).
	starting atomic.Int64
	// holds are the claims in flight, whose leases the renewer extends.
	holds holds
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
	if cfg.RunLength <= 0 {
		cfg.RunLength = 100
	}
	if cfg.Join == nil {
		cfg.Join = func(ctx context.Context) (context.Context, func()) { return ctx, func() {} }
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.RenewFor == 0 {
		cfg.RenewFor = 10 * time.Minute
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
	if cfg.Quiet <= 0 {
		cfg.Quiet = 50 * time.Millisecond
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = 30 * time.Second
	}
	return &Runner{cfg: cfg, wake: cfg.Wake, slots: make(chan struct{}, max(cfg.Workers, cfg.BulkWorkers))}
}

// Wake makes the runner claim now (new work was enqueued).
func (r *Runner) Wake() { r.wake.Wake() }

// Idle reports whether no more work is on its way to the changes in
// flight: the latest claim took every change that was due, and nothing
// was enqueued for Quiet. The Salesforce batcher sends a batch early
// only then (batch.Options.Idle): while a burst keeps arriving, its
// writes keep joining the batch instead.
//
// While the runner is wide (Wide), it is idle also when every slot is
// taken: nothing more can join the changes in flight until one finishes.
// Either way, not before every claimed run joined the batcher.
func (r *Runner) Idle() bool {
	if r.starting.Load() > 0 {
		return false
	}
	return r.drained.Load() && time.Since(time.Unix(0, r.wake.last.Load())) >= r.cfg.Quiet || r.saturated()
}

// Run processes changes until ctx ends; in-flight changes finish first.
func (r *Runner) Run(ctx context.Context) error {
	slots := r.slots
	// Stopped once the runs in flight are done (defers run last first).
	defer r.startRenewer()()
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake.c:
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

// claim starts partition runs on free worker slots until the queue has
// none ready or the slots run out; slowed down, it makes one round of at
// most an eighth of the workers.
func (r *Runner) claim(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup, slow bool) {
	for {
		free := r.workers() - len(slots)
		if slow {
			free = min(free, max(1, r.cfg.Workers/8))
		}
		if free <= 0 {
			r.drained.Store(false)
			return
		}
		// A wake from now on means new work: the claim below may miss it.
		woke := r.wake.last.Load()
		// The lease runs from no later than now, as the store counts it.
		claimed := time.Now()
		runs, err := r.cfg.Queue.ClaimRuns(ctx, free, r.cfg.RunLength, r.cfg.Lease)
		if err != nil {
			if ctx.Err() == nil {
				r.cfg.Logger.Error("claiming changes", "err", err)
			}
			return
		}
		r.starting.Add(int64(len(runs)))
		r.drained.Store(len(runs) < free && r.wake.last.Load() == woke)
		r.widen(len(runs), free, slow)
		if len(runs) == 0 {
			return
		}
		for _, run := range runs {
			slots <- struct{}{}
			wg.Add(1)
			go func(run []billsync.Change) {
				defer wg.Done()
				defer func() { <-slots; r.wake.poke() }()
				r.applyRun(ctx, run, claimed)
			}(run)
		}
		if slow {
			return // one small round per SlowPoll
		}
	}
}

// applyRun applies a partition's run as plan shapes it. After a round in
// which a change is to be retried, the rest of the run goes back to the
// queue unattempted: a later change may be the same record's (under its
// other side's id), and must wait behind it. So does the rest when the
// runner stops or Salesforce calls are paused, or when the run's lease is
// running out. The retries themselves are recorded as the run ends, with
// that hand-back (release). Once the store refuses a write because
// another claimer took a change over (the lease was lost), the runner
// applies nothing more of the run and logs it once.
func (r *Runner) applyRun(ctx context.Context, run []billsync.Change, claimed time.Time) {
	cl := newClaim(run, claimed, r.cfg.Lease, sync.OnceFunc(func() { r.starting.Add(-1) }))
	defer cl.joined()
	defer cl.bridge.leave()
	defer r.reportLost(cl)
	defer r.hold(cl)()
	rounds := plan(run, r.cfg.KeepSalesforceChanges)
	for i, rd := range rounds {
		retry := false
		for j, lv := range rd {
			rest := remaining(rounds, i, j)
			if ctx.Err() != nil || !r.cfg.Processor.PausedUntil().IsZero() {
				r.release(ctx, cl, rest)
				return
			}
			if cl.expiring(r.cfg.Lease) {
				r.handBack(ctx, cl, rest)
				return
			}
			again, unstarted := r.applyLevel(ctx, cl, lv)
			retry = retry || again
			rest = remaining(rounds, i, j+1)
			if len(unstarted.steps) > 0 {
				rest = append([]round{{unstarted}}, rest...)
			}
			if cl.isLost() {
				r.release(ctx, cl, rest)
				return
			}
			if len(unstarted.steps) > 0 {
				// A serial level stopped as its lease ran out.
				r.handBack(ctx, cl, rest)
				return
			}
		}
		if retry && i+1 < len(rounds) {
			r.release(ctx, cl, rounds[i+1:])
			return
		}
	}
	r.release(ctx, cl, nil)
}

// remaining are the levels of rounds from level j of round i on.
func remaining(rounds []round, i, j int) []round {
	rest := make([]round, 0, len(rounds)-i)
	if j < len(rounds[i]) {
		rest = append(rest, rounds[i][j:])
	}
	return append(rest, rounds[i+1:]...)
}

// applyLevel applies a level's steps, together unless it is serial, and
// reports whether any is to be retried. Every step of the level joins
// before any starts, so that none of its writes goes out while another
// step of the level could still share its call. A serial level stops
// before a step once the run's lease is running out or lost, and returns
// the steps it did not start.
func (r *Runner) applyLevel(ctx context.Context, cl *claim, lv level) (retry bool, unstarted level) {
	if lv.serial || len(lv.steps) == 1 {
		for k, st := range lv.steps {
			if k > 0 && (cl.isLost() || cl.expiring(r.cfg.Lease)) {
				return retry, level{steps: lv.steps[k:], serial: lv.serial}
			}
			pctx, leave := r.cfg.Join(ctx)
			cl.joined()
			cl.bridge.leave()
			retry = r.applyStep(ctx, pctx, r.bridged(ctx, cl, leave, nil), cl, st) || retry
		}
		return retry, level{}
	}
	ctxs := make([]context.Context, len(lv.steps))
	leaves := make([]func(), len(lv.steps))
	var left atomic.Int64
	left.Store(int64(len(lv.steps)))
	for i := range lv.steps {
		var leave func()
		ctxs[i], leave = r.cfg.Join(ctx)
		leaves[i] = r.bridged(ctx, cl, leave, &left)
	}
	cl.joined()
	cl.bridge.leave()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i, st := range lv.steps {
		wg.Go(func() {
			if r.applyStep(ctx, ctxs[i], leaves[i], cl, st) {
				mu.Lock()
				retry = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return retry, level{}
}

// bridged is a step's leave from the batcher: when it is the last of its
// level's steps to leave (left counts them; nil for a step alone), the
// run joins the batcher as itself first (claim.bridge), until its next
// level's steps have joined or the run ends. Between two levels a run
// records outcomes and plans; the other runs' batches wait for it then,
// as for a step at work, rather than go without its next writes.
func (r *Runner) bridged(ctx context.Context, cl *claim, leave func(), left *atomic.Int64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			if left == nil || left.Add(-1) == 0 {
				cl.bridge.join(r.cfg.Join, ctx)
			}
			leave()
		})
	}
}

// applyStep settles the changes folded into the step's newest as
// coalesced, then processes the newest under pctx (joined; leave ends
// that) and records its outcome, a retry only when the run ends
// (claim.retryLater); it reports whether that is a retry.
// Every store write is fenced with the claim's token of the change it is
// for (billsync.Fenced), so it is refused once another claimer took that
// change over; the step then stops.
func (r *Runner) applyStep(ctx, pctx context.Context, leave func(), cl *claim, st step) (retry bool) {
	qctx, cancel := r.queueContext(ctx)
	defer cancel()
	now := time.Now().UTC()
	for _, c := range st.folded {
		cl.letGo(c.ID)
		err := r.cfg.Queue.Complete(billsync.Fenced(qctx, c), c.ID, coalescedEntry(c, st.apply.ID, now))
		if errors.Is(err, billsync.ErrLeaseLost) {
			cl.lose(c.ID)
		} else if err != nil {
			r.cfg.Logger.Error("recording a change folded into a later one", "change", c.ID, "into", st.apply.ID, "err", err)
		}
	}
	if cl.isLost() {
		// The run was claimed again: the newest is another claimer's too.
		leave()
		return false
	}
	// At work: the renewer keeps the run's lease meanwhile.
	cl.working.Add(1)
	res := r.cfg.Processor.Process(billsync.WithRenewedLease(billsync.Fenced(pctx, st.apply), cl.end), st.apply)
	cl.working.Add(-1)
	// The step leaves the batcher once its outcome is recorded, not
	// before: a batch goes when every caller joined to it waits, and the
	// runs of a backlog move from one level to the next as their outcomes
	// are written, one store write after another. Left earlier, the
	// next level's batch went with the runs that had got there first
	// (a few hundred of ten thousand: collections calls and small jobs)
	// while the rest were still being recorded.
	defer leave()
	if res.Disposition == attempt.Retry {
		cl.retryLater(st.apply, res)
		return true
	}
	// The outcome gets a deadline of its own: the attempt may have taken
	// longer than a queue write's whole allowance (a joined call waiting
	// for its batch, a slow Salesforce), and an outcome that cannot be
	// recorded is attempted again after the lease, and again.
	rctx, rcancel := r.queueContext(ctx)
	defer rcancel()
	r.record(rctx, cl, st.apply, res)
	return false
}

// queueContext is the context of one queue write: it outlives a shutdown
// request, so that a finished attempt is recorded, and has a deadline, so
// that a store that does not answer does not hold the worker forever.
func (r *Runner) queueContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.cfg.QueueTimeout)
}

// stepIDs are the ids of the changes of rounds.
func stepIDs(rounds []round) []int64 {
	var ids []int64
	for _, rd := range rounds {
		for _, lv := range rd {
			for _, st := range lv.steps {
				for _, c := range st.folded {
					ids = append(ids, c.ID)
				}
				ids = append(ids, st.apply.ID)
			}
		}
	}
	return ids
}

// record records the outcome of a change's attempt, fenced with its
// claim. The queue write uses a context that outlives a shutdown request,
// so a finished attempt is always recorded.
func (r *Runner) record(qctx context.Context, cl *claim, c billsync.Change, res attempt.Result) {
	qctx = billsync.Fenced(qctx, c)
	cl.letGo(c.ID)
	var err error
	switch res.Disposition {
	case attempt.Lost:
		// The engine's own write was refused: another claimer holds c.
		cl.lose(c.ID)
		return
	case attempt.Done:
		err = r.cfg.Queue.Complete(qctx, c.ID, res.Entries...)
	case attempt.Retry:
		err = r.cfg.Queue.Retry(qctx, c.ID, res.RetryAt, billsync.ErrorMessage(res.Err), res.Entries...)
	case attempt.Dead:
		err = r.cfg.Queue.Bury(qctx, c.ID, errorCode(res.Err), billsync.ErrorMessage(res.Err), res.Entries...)
	}
	if errors.Is(err, billsync.ErrLeaseLost) {
		cl.lose(c.ID)
		return
	}
	if err != nil {
		// The change stays claimed until its lease runs out, then is
		// claimed again: at-least-once, and the engine's stale and echo
		// checks make the repeat harmless.
		r.cfg.Logger.Error("recording the outcome of a change", "change", c.ID, "disposition", res.Disposition.String(), "err", err)
		return
	}
	for _, e := range res.Entries {
		logOutcome(qctx, r.cfg.Logger, e)
	}
}

// logOutcome is one sync outcome as a person reads it in billsync's log:
// one line, INFO for what synced or was rightly skipped, WARN for a
// failure that will be retried or needs a person. The sync log keeps the
// whole entry; values are cut by the log handler.
func logOutcome(ctx context.Context, log *slog.Logger, e billsync.LogEntry) {
	level := slog.LevelInfo
	switch {
	case e.Outcome == billsync.OutcomeFailed:
		level = slog.LevelWarn
	case e.Reason == billsync.ReasonCoalesced:
		level = slog.LevelDebug // folded into a later change, which has its own line
	}
	attrs := []slog.Attr{slog.String("direction", string(e.Direction)), slog.String("object", string(e.Object))}
	if e.BillingID != "" {
		attrs = append(attrs, slog.String("billing_id", e.BillingID))
	}
	if e.SalesforceID != "" {
		attrs = append(attrs, slog.String("salesforce_id", e.SalesforceID))
	}
	if e.Operation != "" {
		attrs = append(attrs, slog.String("op", e.Operation))
	}
	attrs = append(attrs, slog.String("outcome", string(e.Outcome)))
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.ErrorCode != "" {
		attrs = append(attrs, slog.String("error", e.ErrorCode))
	}
	attrs = append(attrs, slog.Duration("latency", e.Latency))
	if e.Message != "" {
		attrs = append(attrs, slog.String("message", e.Message))
	}
	log.LogAttrs(ctx, level, "sync", attrs...)
}

func errorCode(err error) string {
	if c := billsync.RemoteCode(err); c != "" {
		return c
	}
	return billsync.ErrorCode(err)
}
