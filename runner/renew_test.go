package runner

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// renewWatch is a queue that counts the renewals that went through.
type renewWatch struct {
	billsync.Queue
	renewed atomic.Int32 // Extend calls that lost nothing
}

func (q *renewWatch) Extend(ctx context.Context, lease time.Duration, fences ...billsync.Fence) ([]int64, error) {
	lost, err := q.Queue.Extend(ctx, lease, fences...)
	if err == nil && len(lost) == 0 {
		q.renewed.Add(1)
	}
	return lost, err
}

// accountRun enqueues a run of two changes of one partition in two
// rounds: a billing account, then a Salesforce one.
func accountRun(t *testing.T, store billsync.Queue) (first, second billsync.Change) {
	part := billsync.AccountPartition("a")
	c1 := &billsync.Change{Partition: part, Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "a", EventID: "evt:a"}
	c2 := &billsync.Change{Partition: part, Source: billsync.SideSalesforce, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "a01000000000001", EventID: "evt:sf"}
	if _, err := store.Enqueue(context.Background(), c1, c2); err != nil {
		t.Fatal(err)
	}
	return *c1, *c2
}

// A step is at work for longer than the claim lease (a write waiting in
// a Bulk ingest job that takes minutes): the runner renews the run's
// lease meanwhile, so another claimer trying all along never gets the
// run's changes, the step sees its lease as not over, and each change is
// applied and completed once. Before, the lease ran out under the step,
// another claim took the run and applied it again, and the first run's
// outcomes were refused as a lost lease.
func TestRunnerRenewsTheLeaseOfARunAtWork(t *testing.T) {
	t.Parallel()
	for name, open := range reclaimQueues(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := open(t)
			c1, c2 := accountRun(t, store)
			// Long enough that the renewer's ticks (a third of it apart)
			// come in time on a busy machine.
			const lease = time.Second
			var mu sync.Mutex
			processed := map[int64]int{}
			var probes atomic.Int32 // other claims tried once c1's first lease ran out
			var probed [][]int64    // what they took
			overInside := false
			p := done()
			inner := p.ProcessFn
			p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
				mu.Lock()
				processed[c.ID]++
				mu.Unlock()
				if c.ID == c1.ID {
					// At work until well past the first lease, and until
					// another claimer tried the queue after it ran out.
					pastFirst := time.Now().Add(2 * lease)
					deadline := time.Now().Add(waitFor)
					for time.Now().Before(pastFirst) || probes.Load() < 3 {
						if time.Now().After(deadline) {
							t.Error("another claimer never tried the queue while the step was at work")
							break
						}
						time.Sleep(10 * time.Millisecond)
					}
					mu.Lock()
					overInside = billsync.LeaseOver(ctx)
					mu.Unlock()
				}
				return inner(ctx, c)
			}
			q := &renewWatch{Queue: store}
			logs := &logRecorder{}
			r := New(Config{Processor: p, Queue: q, Workers: 1, Lease: lease, Poll: 5 * time.Millisecond, Logger: slog.New(logs)})
			stop := start(t, r)

			// Another replica claims all along; the first lease ends by
			// lease after the runner claimed, before c1 was processed.
			eventually(t, "c1 processed", func() bool { mu.Lock(); defer mu.Unlock(); return processed[c1.ID] > 0 })
			firstEnd := time.Now().Add(lease)
			drained := func() bool {
				st, err := store.Stats(context.Background())
				return err == nil && st.Pending == 0 && st.Running == 0
			}
			deadline := time.Now().Add(waitFor)
			for !drained() && time.Now().Before(deadline) {
				runs, err := store.ClaimRuns(context.Background(), 10, 100, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				for _, run := range runs {
					var ids []int64
					for _, c := range run {
						ids = append(ids, c.ID)
					}
					probed = append(probed, ids)
				}
				mu.Unlock()
				if time.Now().After(firstEnd) {
					probes.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if !drained() {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("the queue never drained; another claimer took %v", probed)
			}
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(probed) > 0 {
				t.Errorf("another claimer took %v while the run was at work", probed)
			}
			if processed[c1.ID] != 1 || processed[c2.ID] != 1 {
				t.Errorf("processed %v, want each change once", processed)
			}
			if overInside {
				t.Error("the step saw its lease over although it was renewed")
			}
			if q.renewed.Load() == 0 {
				t.Error("no renewal went through")
			}
			if n := lostWarnings(logs); n != 0 || logs.has("the claim lease of a run ran out") {
				t.Errorf("a renewed lease was reported lost or run out:\n%s", strings.Join(logs.messages(), "\n"))
			}
		})
	}
}

// The run's lease has been renewed, then the process "stalls" past it on
// the store's clock and another claimer takes the run over: the next
// renewal is refused. The step at work sees its lease over at once (the
// engine then skips its writes outside the store), the runner records
// nothing for the run, applies none of the rest, and logs the lost lease
// once.
func TestRunnerRenewalRefusedStopsTheRun(t *testing.T) {
	t.Parallel()
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	store := mock.NewStore()
	store.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	c1, _ := accountRun(t, store)

	entered, proceed := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var seen []int64
	sawOver := false
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		seen = append(seen, c.ID)
		mu.Unlock()
		if c.ID == c1.ID {
			close(entered)
			<-proceed
			deadline := time.Now().Add(waitFor)
			for !billsync.LeaseOver(ctx) && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			mu.Lock()
			sawOver = billsync.LeaseOver(ctx)
			mu.Unlock()
		}
		return inner(ctx, c)
	}
	q := &renewWatch{Queue: store}
	logs := &logRecorder{}
	// The store's clock stands still: its lease ends only when the test
	// moves it, however often this short lease is renewed.
	r := New(Config{Processor: p, Queue: q, Workers: 1, Lease: 300 * time.Millisecond, Poll: 5 * time.Millisecond, Logger: slog.New(logs)})
	stop := start(t, r)
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("the runner never processed c1")
	}
	eventually(t, "a renewal", func() bool { return q.renewed.Load() > 0 })
	// A renewal between the clock's move and the claim would lease the
	// run from the moved clock: move it again until the claim gets it.
	var other [][]billsync.Change
	eventually(t, "another claimer taking the run over", func() bool {
		clock.Add(int64(2 * time.Hour))
		var err error
		if other, err = store.ClaimRuns(context.Background(), 1, 100, time.Hour); err != nil {
			t.Fatal(err)
		}
		return len(other) > 0
	})
	if len(other) != 1 || len(other[0]) != 2 {
		t.Fatalf("the other claimer got %+v; want the run c1, c2", other)
	}
	close(proceed)

	eventually(t, "the lost lease logged", func() bool { return lostWarnings(logs) > 0 })
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !sawOver {
		t.Error("the step never saw its lease over after the renewal was refused")
	}
	if !slices.Equal(seen, []int64{c1.ID}) {
		t.Errorf("processed %v, want only c1 (the run stops once its lease is lost)", seen)
	}
	if es := store.LogEntries(); len(es) != 0 {
		t.Errorf("the runner that lost its lease logged %+v", es)
	}
	if q := store.Queued(); len(q) != 2 || q[0].Fence != other[0][0].Fence || q[1].Fence != other[0][1].Fence {
		t.Errorf("queue %+v, want the run held by the other claimer", q)
	}
	if n := lostWarnings(logs); n != 1 {
		t.Errorf("lost lease logged %d times, want once:\n%s", n, strings.Join(logs.messages(), "\n"))
	}
}

// What a renewal does to a claim, by what the store answered: renewed,
// the lease end moves; a change still held not renewed, the claim is lost
// and its lease over at once; a change the run let go of meanwhile not
// renewed (finished by the run, or taken over: its own write tells), the
// lease stays where it was, so a run that may have been taken over never
// looks as though it held.
func TestClaimRenewed(t *testing.T) {
	t.Parallel()
	claimed := time.Now()
	const lease = time.Minute
	run := []billsync.Change{{ID: 1, Fence: 10}, {ID: 2, Fence: 20}}
	sent := []billsync.Fence{{ChangeID: 1, Token: 10}, {ChangeID: 2, Token: 20}}
	later := claimed.Add(lease / 3)
	for name, tc := range map[string]struct {
		letGo    []int64
		gone     []int64
		wantEnd  time.Time
		wantLost []int64
	}{
		"renewed":              {wantEnd: later.Add(lease)},
		"held change gone":     {gone: []int64{1}, wantEnd: later, wantLost: []int64{1}},
		"let-go change gone":   {letGo: []int64{2}, gone: []int64{2}, wantEnd: claimed.Add(lease)},
		"let-go, held renewed": {letGo: []int64{2}, wantEnd: later.Add(lease)},
	} {
		t.Run(name, func(t *testing.T) {
			cl := newClaim(run, claimed, lease, func() {})
			cl.letGo(tc.letGo...)
			cl.renewed(later, later.Add(lease), sent, func(f billsync.Fence) bool { return slices.Contains(tc.gone, f.ChangeID) })
			if got := cl.end.Get(); !got.Equal(tc.wantEnd) {
				t.Errorf("lease end %v after the claim, want %v", got.Sub(claimed), tc.wantEnd.Sub(claimed))
			}
			if !slices.Equal(cl.lost, tc.wantLost) {
				t.Errorf("lost %v, want %v", cl.lost, tc.wantLost)
			}
			if len(tc.wantLost) == 0 && !cl.until.Equal(tc.wantEnd) {
				t.Errorf("own lease end %v after the claim, want %v", cl.until.Sub(claimed), tc.wantEnd.Sub(claimed))
			}
		})
	}
}
