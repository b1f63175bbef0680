package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// waitFor is how long a test waits for an outcome before it fails: long,
// so a loaded machine does not fail a correct runner.
const waitFor = 20 * time.Second

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logRecorder is a slog handler keeping the messages logged.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}

func (h *logRecorder) has(msg string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.ContainsFunc(h.msgs, func(m string) bool { return strings.Contains(m, msg) })
}

func enqueue(t *testing.T, s *mock.Store, partition, record string) billsync.Change {
	t.Helper()
	c := &billsync.Change{Partition: partition, Source: billsync.SideBilling, Object: billsync.ObjectAccount,
		Op: billsync.OpUpdated, RecordID: record, EventID: "evt:" + record}
	if _, err := s.Enqueue(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	return *c
}

// done is a processor answering every change with one success entry.
func done() *mock.Processor {
	return &mock.Processor{
		PausedUntilFn: func() time.Time { return time.Time{} },
		ProcessFn: func(ctx context.Context, c billsync.Change) attempt.Result {
			return attempt.Result{Entries: []billsync.LogEntry{{Object: c.Object, BillingID: c.RecordID, Outcome: billsync.OutcomeSuccess, ChangeID: c.ID}}}
		},
	}
}

// start runs r until the test ends and returns a stop function that
// cancels it and waits for Run to return.
func start(t *testing.T, r *Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(waitFor):
				err = errors.New("Run did not return after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// G1, H3: each disposition lands in the queue with the attempt's log
// entries: done completes, retry waits with its error, dead is buried
// with the remote system's code.
func TestRunnerRecordsEachDisposition(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	for _, rec := range []string{"ok", "later", "bad"} {
		enqueue(t, store, billsync.AccountPartition(rec), rec)
	}
	retryAt := time.Now().Add(time.Hour)
	p := done()
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		le := billsync.LogEntry{Object: c.Object, BillingID: c.RecordID, ChangeID: c.ID}
		switch c.RecordID {
		case "later":
			le.Outcome = billsync.OutcomeRetrying
			return attempt.Result{Disposition: attempt.Retry, RetryAt: retryAt, Entries: []billsync.LogEntry{le},
				Err: &billsync.RemoteError{System: billsync.SystemSalesforce, Code: "UNABLE_TO_LOCK_ROW", Message: "locked", Transient: true}}
		case "bad":
			le.Outcome = billsync.OutcomeDead
			return attempt.Result{Disposition: attempt.Dead, Entries: []billsync.LogEntry{le},
				Err: &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Code: "REQUIRED_FIELD_MISSING", Message: "Name"}}
		}
		le.Outcome = billsync.OutcomeSuccess
		return attempt.Result{Entries: []billsync.LogEntry{le}}
	}
	stop := start(t, New(Config{Processor: p, Queue: store, Poll: 10 * time.Millisecond}))
	eventually(t, "three log entries", func() bool { return len(store.LogEntries()) == 3 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	queued := store.Queued()
	if len(queued) != 1 || queued[0].RecordID != "later" || queued[0].LastError != "salesforce UNABLE_TO_LOCK_ROW: locked" {
		t.Fatalf("queued after the run: %+v", queued)
	}
	dead, _ := store.DeadLetters(context.Background(), 0)
	if len(dead) != 1 || dead[0].RecordID != "bad" || dead[0].ErrorCode != "REQUIRED_FIELD_MISSING" {
		t.Fatalf("dead letters %+v", dead)
	}
	outcomes := map[string]billsync.Outcome{}
	for _, le := range store.LogEntries() {
		outcomes[le.BillingID] = le.Outcome
	}
	want := map[string]billsync.Outcome{"ok": billsync.OutcomeSuccess, "later": billsync.OutcomeRetrying, "bad": billsync.OutcomeDead}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Fatalf("log outcomes %v, want %v", outcomes, want)
	}
}

// B2: runs one change long put one change per partition in flight, at
// most Workers partitions at once, each partition in order.
func TestRunnerPartitionsAndWorkers(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	for i := range 2 {
		for p := range 6 {
			enqueue(t, store, fmt.Sprintf("account:%d", p), fmt.Sprintf("%d/%d", p, i))
		}
	}
	var (
		mu         sync.Mutex
		running    = map[string]bool{}
		most       int
		overlapped []string
		order      = map[string][]int64{}
	)
	gate := make(chan struct{})
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		if running[c.Partition] {
			overlapped = append(overlapped, c.Partition)
		}
		running[c.Partition] = true
		order[c.Partition] = append(order[c.Partition], c.ID)
		most = max(most, len(running))
		mu.Unlock()
		<-gate
		mu.Lock()
		delete(running, c.Partition)
		mu.Unlock()
		return inner(ctx, c)
	}
	start(t, New(Config{Processor: p, Queue: store, Workers: 3, RunLength: 1, Poll: 10 * time.Millisecond}))
	eventually(t, "three changes in flight", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(running) == 3
	})
	close(gate)
	eventually(t, "all twelve changes done", func() bool { return len(store.LogEntries()) == 12 })
	mu.Lock()
	defer mu.Unlock()
	if most != 3 || len(overlapped) > 0 {
		t.Fatalf("at most %d in flight (want 3); partitions with two in flight: %v", most, overlapped)
	}
	for part, ids := range order {
		if !slices.IsSorted(ids) || len(ids) != 2 {
			t.Errorf("partition %s ran %v", part, ids)
		}
	}
}

// H3: while Salesforce calls are paused the runner claims nothing, however
// often it is woken; once the pause is over it claims again.
func TestRunnerHoldsBackWhilePaused(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	enqueue(t, store, "account:a", "a1")
	var mu sync.Mutex
	paused := time.Now().Add(time.Hour)
	checks := make(chan struct{}, 100)
	p := done()
	p.PausedUntilFn = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		select {
		case checks <- struct{}{}:
		default:
		}
		return paused
	}
	claims := 0
	q := &mock.Queue{
		ClaimRunsFn: func(ctx context.Context, n, perRun int, lease time.Duration) ([][]billsync.Change, error) {
			mu.Lock()
			claims++
			mu.Unlock()
			return store.ClaimRuns(ctx, n, perRun, lease)
		},
		CompleteFn: store.Complete,
	}
	r := New(Config{Processor: p, Queue: q, Poll: time.Hour})
	start(t, r)
	for range 3 {
		select {
		case <-checks:
		case <-time.After(waitFor):
			t.Fatal("the runner never looked at the pause")
		}
		r.Wake()
	}
	mu.Lock()
	if claims != 0 {
		t.Fatalf("claimed %d times while paused", claims)
	}
	paused = time.Time{}
	mu.Unlock()
	r.Wake()
	eventually(t, "the change done after the pause", func() bool { return len(store.LogEntries()) == 1 })
}

// Above the API budget share the runner claims in small, slow rounds;
// under it, in full rounds.
func TestRunnerSlowsDownOverBudget(t *testing.T) {
	t.Parallel()
	for _, over := range []bool{false, true} {
		store := mock.NewStore()
		for i := range 64 {
			enqueue(t, store, fmt.Sprintf("account:%d", i), fmt.Sprintf("acc_%d", i))
		}
		var mu sync.Mutex
		var claims []int
		q := &mock.Queue{
			ClaimRunsFn: func(ctx context.Context, n, perRun int, lease time.Duration) ([][]billsync.Change, error) {
				cs, err := store.ClaimRuns(ctx, n, perRun, lease)
				if len(cs) > 0 {
					mu.Lock()
					claims = append(claims, len(cs))
					mu.Unlock()
				}
				return cs, err
			},
			CompleteFn: store.Complete,
		}
		logs := &logRecorder{}
		r := New(Config{Processor: done(), Queue: q, Workers: 32, SlowPoll: 50 * time.Millisecond, Logger: slog.New(logs),
			Budget: func() (int, int, bool) {
				if over {
					return 95, 100, true
				}
				return 10, 100, true
			}})
		stop := start(t, r)
		eventually(t, "64 changes done", func() bool { return len(store.LogEntries()) == 64 })
		stop()
		mu.Lock()
		for _, n := range claims {
			if over && n > 4 {
				t.Fatalf("over budget: claimed %d in one round (claims %v), want at most 32/8", n, claims)
			}
		}
		if !over && claims[0] != 32 {
			t.Fatalf("under budget: first round %d, want 32", claims[0])
		}
		mu.Unlock()
		if over != logs.has("slowing down") {
			t.Errorf("over=%v: slow-down logged %v", over, logs.has("slowing down"))
		}
	}
}

// The budget crossing is logged once each way.
func TestRunnerBudgetCrossingsAreLogged(t *testing.T) {
	t.Parallel()
	used := 95
	logs := &logRecorder{}
	r := New(Config{Processor: done(), Queue: &mock.Queue{}, Logger: slog.New(logs), BudgetShare: 2, // out of range: 0.9
		Budget: func() (int, int, bool) { return used, 100, true }})
	if !r.overBudget() || !r.overBudget() || !logs.has("WARN Salesforce API usage above the budget share") {
		t.Fatalf("over budget not reported: %v", logs.messages())
	}
	used = 10
	if r.overBudget() || !logs.has("INFO Salesforce API usage back under the budget share") || len(logs.messages()) != 2 {
		t.Fatalf("back under budget: %v", logs.messages())
	}
	if New(Config{}).overBudget() {
		t.Fatal("no budget reported as over")
	}
}

// A shutdown lets the change in flight finish and still records its
// outcome, though the run's context has ended.
func TestRunnerFinishesInFlightOnShutdown(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	enqueue(t, store, "account:a", "a1")
	started, gate := make(chan struct{}), make(chan struct{})
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		close(started)
		<-gate
		return inner(ctx, c)
	}
	stop := start(t, New(Config{Processor: p, Queue: store}))
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the change never started")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	close(gate)
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if got := store.LogEntries(); len(got) != 1 || len(store.Queued()) != 0 {
		t.Fatalf("after shutdown: log %+v, queued %+v", got, store.Queued())
	}
}

// A failing claim or outcome write is logged; the runner carries on, and
// the unrecorded change stays claimed (the lease brings it back).
func TestRunnerLogsQueueFailures(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	enqueue(t, store, "account:a", "a1")
	var mu sync.Mutex
	claimErrs := 1
	q := &mock.Queue{
		ClaimRunsFn: func(ctx context.Context, n, perRun int, lease time.Duration) ([][]billsync.Change, error) {
			mu.Lock()
			defer mu.Unlock()
			if claimErrs > 0 {
				claimErrs--
				return nil, errors.New("database is locked")
			}
			return store.ClaimRuns(ctx, n, perRun, lease)
		},
		CompleteFn: func(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
			return errors.New("disk full")
		},
	}
	logs := &logRecorder{}
	start(t, New(Config{Processor: done(), Queue: q, Poll: 5 * time.Millisecond, Logger: slog.New(logs)}))
	eventually(t, "both failures logged", func() bool {
		return logs.has("ERROR claiming changes") && logs.has("ERROR recording the outcome of a change")
	})
	if st, _ := store.Stats(context.Background()); st.Running != 1 {
		t.Fatalf("the unrecorded change is not held by its lease: %+v", st)
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 409, Code: "version_conflict"}, "version_conflict"},
		{billsync.Errorf(billsync.EINVALID, "bad"), billsync.EINVALID},
		{errors.New("plain"), billsync.EINTERNAL},
	} {
		if got := errorCode(tc.err); got != tc.want {
			t.Errorf("errorCode(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// A signal given in Config is the runner's own: waking it before the
// runner exists (the engine and the server are built first) is not lost,
// and wakes merge instead of blocking.
func TestSignalBuiltBeforeTheRunner(t *testing.T) {
	s := NewSignal()
	s.Wake()
	s.Wake() // merges, never blocks
	r := New(Config{Wake: s, Processor: &mock.Processor{}, Queue: &mock.Queue{}})
	select {
	case <-r.wake.c:
	default:
		t.Fatal("the wake sent before New was lost")
	}
	r.Wake()
	if len(s.c) != 1 {
		t.Fatalf("runner.Wake did not reach the shared signal (%d pending)", len(s.c))
	}
}

// deadlineQueue is a queue that, like a real store, refuses a write whose
// context has ended.
type deadlineQueue struct{ *mock.Store }

func (q deadlineQueue) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return q.Store.Complete(ctx, id, entries...)
}

// An attempt that takes longer than a queue write's allowance (a joined
// call waiting for its batch, a slow Salesforce) is still recorded: the
// outcome's write gets its own deadline, counted from the end of the
// attempt. Before, the deadline ran from the start, the outcome was
// refused, and the change was attempted again after its lease, and again.
func TestRunnerRecordsAnOutcomeAfterALongAttempt(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	enqueue(t, store, billsync.AccountPartition("slow"), "slow")
	const allowance = time.Second
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		time.Sleep(allowance + allowance/2) // longer than the allowance, on any machine
		return inner(ctx, c)
	}
	logs := &logRecorder{}
	stop := start(t, New(Config{Processor: p, Queue: deadlineQueue{store}, Poll: 10 * time.Millisecond,
		QueueTimeout: allowance, Logger: slog.New(logs)}))
	eventually(t, "the outcome recorded", func() bool { return len(store.LogEntries()) == 1 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if logs.has("recording the outcome of a change") {
		t.Fatalf("the outcome's write failed first: %q", logs.messages())
	}
}
