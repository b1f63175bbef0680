package runner

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// lostWarnings counts the warnings that a run's lease was lost.
func lostWarnings(h *logRecorder) int {
	n := 0
	for _, m := range h.messages() {
		if strings.HasPrefix(m, "WARN lost the claim lease") {
			n++
		}
	}
	return n
}

// The runner stalls inside a change past its lease, another claimer takes
// the change over, and the runner wakes: the store refuses its Complete,
// so nothing it did is recorded, it does not retry the change, and it
// logs once that it lost the lease.
func TestRunnerLostLeaseRecordsNothing(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	store := mock.NewStore()
	store.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	c1 := enqueue(t, store, billsync.AccountPartition("a"), "a")

	entered, proceed := make(chan billsync.Change, 1), make(chan struct{})
	var calls atomic.Int32
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		if calls.Add(1) == 1 {
			entered <- c
			<-proceed
		}
		return inner(ctx, c)
	}
	logs := &logRecorder{}
	r := New(Config{Processor: p, Queue: store, Workers: 2, Lease: time.Hour, Poll: 10 * time.Millisecond, Logger: slog.New(logs)})
	stop := start(t, r)

	var mine billsync.Change
	select {
	case mine = <-entered:
	case <-time.After(waitFor):
		t.Fatal("the runner never processed the change")
	}
	if mine.ID != c1.ID || mine.Fence == 0 {
		t.Fatalf("processing %+v, want change %d with a fencing token", mine, c1.ID)
	}
	// The runner "stalls": its lease runs out on the store's clock and
	// another claimer takes the change over.
	clock.Add(int64(2 * time.Hour))
	other, err := store.Claim(context.Background(), 1, time.Hour)
	if err != nil || len(other) != 1 || other[0].ID != c1.ID || other[0].Fence <= mine.Fence {
		t.Fatalf("the other claimer got %+v, %v; want change %d with a newer token", other, err, c1.ID)
	}
	close(proceed)

	eventually(t, "the lost lease logged", func() bool { return lostWarnings(logs) > 0 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if n := lostWarnings(logs); n != 1 {
		t.Errorf("lost lease logged %d times, want once:\n%s", n, strings.Join(logs.messages(), "\n"))
	}
	if es := store.LogEntries(); len(es) != 0 {
		t.Errorf("the runner that lost its lease logged %+v", es)
	}
	if q := store.Queued(); len(q) != 1 || q[0].ID != c1.ID || q[0].Fence != other[0].Fence {
		t.Errorf("queue %+v, want the change held by the other claimer", q)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("processed %d times, want once (a lost change is not retried)", n)
	}
	for _, m := range logs.messages() {
		if strings.HasPrefix(m, "ERROR") {
			t.Errorf("a lost lease logged an error: %s", m)
		}
	}
}

// The engine's own store write is refused (the attempt is Lost): the
// runner writes nothing for the change, applies nothing more of its run,
// and logs the lost lease once.
func TestRunnerLostInEngineStopsTheRun(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	part := billsync.AccountPartition("a")
	c1 := enqueue(t, store, part, "a")
	// A Salesforce-side change comes in a later round of the run.
	c2 := &billsync.Change{Partition: part, Source: billsync.SideSalesforce, Object: billsync.ObjectAccount,
		Op: billsync.OpUpdated, RecordID: "a01000000000001", EventID: "evt:sf"}
	if _, err := store.Enqueue(context.Background(), c2); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []int64
	p := done()
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		seen = append(seen, c.ID)
		mu.Unlock()
		if fs := billsync.Fences(ctx); len(fs) != 1 || fs[0] != (billsync.Fence{ChangeID: c.ID, Token: c.Fence}) {
			t.Errorf("processed change %d under fences %v, want its own", c.ID, fs)
		}
		return attempt.Result{Disposition: attempt.Lost, Err: billsync.ErrLeaseLost}
	}
	logs := &logRecorder{}
	r := New(Config{Processor: p, Queue: store, Lease: time.Hour, Poll: 10 * time.Millisecond, Logger: slog.New(logs)})
	stop := start(t, r)
	eventually(t, "the lost lease logged", func() bool { return lostWarnings(logs) > 0 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 || seen[0] != c1.ID {
		t.Errorf("processed %v, want only change %d (the run stops once its lease is lost)", seen, c1.ID)
	}
	if es := store.LogEntries(); len(es) != 0 {
		t.Errorf("logged %+v for a lost change", es)
	}
	if n := lostWarnings(logs); n != 1 {
		t.Errorf("lost lease logged %d times, want once", n)
	}
	// Lost within the lease, by this process's clock: no stall, and the
	// warning must not blame one.
	if !logs.has("lost the claim lease on changes before it ran out") || logs.has("stalled") {
		t.Errorf("the warning of a lease lost before it ran out blames a stall or does not say so:\n%s", strings.Join(logs.messages(), "\n"))
	}
}

// A run whose lease runs out while the runner is busy with it applies no
// more of it: the rest goes back to the queue (nobody took it over, so
// the fenced release passes) and is applied on a later claim. The rest is
// a later round (a Salesforce change after a billing one), or the next
// step of a serial level (quotes, one at a time). The lease is renewed
// while the step is at work, but only for RenewFor: a step stuck longer
// lets it run out.
func TestRunnerLeaseRunningOutHandsBack(t *testing.T) {
	t.Parallel()
	part := billsync.AccountPartition("a")
	for name, pair := range map[string][2]*billsync.Change{
		"later round": {
			{Partition: part, Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "a", EventID: "evt:a"},
			{Partition: part, Source: billsync.SideSalesforce, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "a01000000000001", EventID: "evt:sf"},
		},
		"serial level": {
			{Partition: part, Source: billsync.SideBilling, Object: billsync.ObjectQuote, Op: billsync.OpUpdated, RecordID: "q1", EventID: "evt:q1"},
			{Partition: part, Source: billsync.SideBilling, Object: billsync.ObjectQuote, Op: billsync.OpUpdated, RecordID: "q2", EventID: "evt:q2"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := mock.NewStore()
			c1, c2 := pair[0], pair[1]
			if _, err := store.Enqueue(context.Background(), c1, c2); err != nil {
				t.Fatal(err)
			}
			const lease = 200 * time.Millisecond
			var mu sync.Mutex
			var seen []billsync.Change
			p := done()
			inner := p.ProcessFn
			p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
				mu.Lock()
				seen = append(seen, c)
				mu.Unlock()
				if c.ID == c1.ID {
					// Busy past the lease, renewals included (waiting
					// for the lease as the engine sees it, not sleeping
					// a guess).
					for !billsync.LeaseOver(ctx) {
						time.Sleep(5 * time.Millisecond)
					}
				}
				return inner(ctx, c)
			}
			logs := &logRecorder{}
			r := New(Config{Processor: p, Queue: store, Workers: 1, Lease: lease, RenewFor: lease, Poll: 10 * time.Millisecond, Logger: slog.New(logs)})
			start(t, r)
			eventually(t, "both changes applied", func() bool { return len(store.Queued()) == 0 })
			if !logs.has("the claim lease of a run ran out") {
				t.Errorf("no warning that the lease ran out:\n%s", strings.Join(logs.messages(), "\n"))
			}
			mu.Lock()
			defer mu.Unlock()
			var c2s []billsync.Change
			for _, c := range seen {
				if c.ID == c2.ID {
					c2s = append(c2s, c)
				}
			}
			if len(c2s) == 0 || c2s[0].Attempt != 1 {
				t.Errorf("change %d applied as %+v, want it applied on a later claim, its attempt not spent by the hand-back", c2.ID, c2s)
			}
			if lostWarnings(logs) != 0 {
				t.Errorf("a lease that merely ran out was reported lost")
			}
		})
	}
}
