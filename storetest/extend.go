package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// shortLease is the lease a test lets run out: waiting for it to pass is
// waiting for the clock, not guessing how long something takes.
const shortLease = 200 * time.Millisecond

func fencesOf(cs ...billsync.Change) []billsync.Fence {
	fs := make([]billsync.Fence, len(cs))
	for i, c := range cs {
		fs[i] = billsync.Fence{ChangeID: c.ID, Token: c.Fence}
	}
	return fs
}

// pastLease waits until a lease of shortLease taken at from has run out
// by this process's clock, with a margin for the store's.
func pastLease(from time.Time) {
	time.Sleep(time.Until(from.Add(shortLease + 100*time.Millisecond)))
}

// testExtendHolds: a run claimed with a short lease and extended is not
// claimable by another claimer once its first lease ran out, neither its
// head nor, once the head is finished, the next change of the run (its
// lease moved too, and it becomes a head leased to the new end); the
// fences stay as they were.
func testExtendHolds(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, a3 := change("account:a", "a1"), change("account:a", "a2"), change("account:a", "a3")
	b1 := change("account:b", "b1")
	enqueue(t, s, a1, a2, a3, b1)
	claimed := time.Now()
	runs, err := s.ClaimRuns(ctx, 1, 2, shortLease)
	must(t, err)
	if len(runs) != 1 || len(runs[0]) != 2 || runs[0][0].ID != a1.ID || runs[0][1].ID != a2.ID {
		t.Fatalf("claimed %+v, want the run a1, a2", runs)
	}
	run := runs[0]
	lost, err := s.Extend(ctx, time.Hour, fencesOf(run...)...)
	must(t, err)
	if len(lost) != 0 {
		t.Fatalf("extending a held run lost %v", lost)
	}
	pastLease(claimed)
	// b is due; a is not, its head's lease having moved.
	got, err := s.ClaimRuns(ctx, 10, 10, time.Hour)
	must(t, err)
	if len(got) != 1 || got[0][0].ID != b1.ID {
		t.Fatalf("after the first lease ran out claimed %+v, want b1 only: the extended run was taken", got)
	}
	// a1 finishes: a2, still the run's, becomes the head, leased to the
	// extended end, so the partition stays the run's.
	must(t, s.Complete(billsync.Fenced(ctx, run[0]), a1.ID))
	if got, err := s.ClaimRuns(ctx, 10, 10, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("after the head finished claimed %+v, %v: the extended follower was taken", got, err)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Running != 2 || st.Pending != 1 {
		t.Errorf("stats %+v, want a2 and b1 running and a3 pending", st)
	}
	// Extending again keeps the fence: the holder's writes pass.
	lost, err = s.Extend(ctx, time.Hour, fencesOf(run[1])...)
	must(t, err)
	if len(lost) != 0 {
		t.Fatalf("extending a2 again lost %v", lost)
	}
	must(t, s.Complete(billsync.Fenced(ctx, run[1]), a2.ID))
	if c := claimOne(t, s, time.Hour); c.ID != a3.ID {
		t.Errorf("after the run finished claimed %+v, want a3", c)
	}

	// Nothing to extend, and a lease that is not positive.
	if lost, err := s.Extend(ctx, time.Hour); err != nil || len(lost) != 0 {
		t.Errorf("Extend of no fences: %v, %v", lost, err)
	}
	_, err = s.Extend(ctx, 0, fencesOf(got[0]...)...)
	wantCode(t, err, billsync.EINVALID)
}

// testExtendStaleLost: a claimer whose lease ran out and whose change
// another claimer took over gets it back as lost from Extend, and nothing
// is written for it (the new holder's lease ends when it did); in the
// same call its other, still current, change is extended.
func testExtendStaleLost(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, b1 := change("account:a", "a1"), change("account:b", "b1")
	enqueue(t, s, a1, b1)
	claimed := time.Now()
	stale := claimOne(t, s, shortLease)
	held := claimOne(t, s, shortLease)
	if stale.ID != a1.ID || held.ID != b1.ID {
		t.Fatalf("claimed %d then %d, want a1 then b1", stale.ID, held.ID)
	}
	lost, err := s.Extend(ctx, time.Hour, fencesOf(held)...)
	must(t, err)
	if len(lost) != 0 {
		t.Fatalf("extending b1 lost %v", lost)
	}
	pastLease(claimed)
	// Another claimer takes a1 over, with a short lease of its own.
	reclaimed := time.Now()
	cs, err := s.Claim(ctx, 10, shortLease)
	must(t, err)
	if len(cs) != 1 || cs[0].ID != a1.ID || cs[0].Fence <= stale.Fence {
		t.Fatalf("the other claimer got %+v, want a1 with a newer fence (b1 extended)", cs)
	}
	current := cs[0]
	lost, err = s.Extend(ctx, time.Hour, fencesOf(held, stale)...)
	must(t, err)
	if !slices.Equal(lost, []int64{a1.ID}) {
		t.Fatalf("Extend with a stale fence lost %v, want [%d]", lost, a1.ID)
	}
	// The stale extension wrote nothing: the new holder's short lease
	// runs out and a1 is claimed again; b1 stays held.
	pastLease(reclaimed)
	again := reclaim(t, s, a1.ID)
	if again.Fence <= current.Fence {
		t.Errorf("re-claimed a1 with fence %d, not newer than %d", again.Fence, current.Fence)
	}
	if cs, err := s.Claim(ctx, 10, time.Hour); err != nil || len(cs) != 0 {
		t.Errorf("claimed %+v, %v: b1 was extended in the call that lost a1", cs, err)
	}
}

// testExtendFinishedLost: a change finished (completed, retried, buried,
// released) since its claim is lost to Extend, which writes nothing for it
// (a retried or released change stays due as it was), and extends the
// rest of the call.
func testExtendFinishedLost(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	var cs []*billsync.Change
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		cs = append(cs, change("account:"+p, p+"1"))
	}
	enqueue(t, s, cs...)
	claimed, err := s.Claim(ctx, 5, time.Hour)
	must(t, err)
	if len(claimed) != 5 {
		t.Fatalf("claimed %d changes, want 5", len(claimed))
	}
	done, retried, buried, released, kept := claimed[0], claimed[1], claimed[2], claimed[3], claimed[4]
	must(t, s.Complete(billsync.Fenced(ctx, done), done.ID))
	must(t, s.Retry(billsync.Fenced(ctx, retried), retried.ID, time.Now().Add(-time.Second), "busy"))
	must(t, s.Bury(billsync.Fenced(ctx, buried), buried.ID, "INVALID", "boom"))
	must(t, s.Release(billsync.Fenced(ctx, released), released.ID))
	lost, err := s.Extend(ctx, time.Hour, fencesOf(claimed...)...)
	must(t, err)
	want := []int64{done.ID, retried.ID, buried.ID, released.ID}
	if !slices.Equal(lost, want) {
		t.Fatalf("Extend after the changes finished lost %v, want %v", lost, want)
	}
	got, err := s.Claim(ctx, 10, time.Hour)
	must(t, err)
	if ids := changeIDs(got); !slices.Equal(ids, []int64{retried.ID, released.ID}) {
		t.Errorf("claimed %v after the Extend, want the retried and the released change %v, due as before", ids, []int64{retried.ID, released.ID})
	}
	must(t, s.Complete(billsync.Fenced(ctx, kept), kept.ID))
}

func changeIDs(cs []billsync.Change) []int64 {
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	slices.Sort(ids)
	return ids
}

// testExtendConcurrent: claimers finish their runs while a renewer keeps
// extending every run in flight and changes keep arriving in batches over
// many partitions, as a runner's workers, its renewer and its webhooks
// do. Nothing fails (no deadlock outlasts the store's retries), nothing is
// claimed twice, and no change still held comes back lost.
func testExtendConcurrent(t *testing.T, s billsync.Store) {
	const partitions, rounds, workers = 6, 8, 3
	x := &extendRace{s: s, want: partitions * rounds, inFlight: map[int64]billsync.Change{}, done: map[int64]int{}}
	deadline := time.Now().Add(waitFor)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { x.enqueue(t, partitions, rounds) })
	wg.Go(func() { x.renew(t, stop) })
	for w := range workers {
		wg.Go(func() { x.work(t, w, deadline) })
	}
	// The enqueuer and the workers end on their own; then the renewer.
	go func() {
		for !x.finished() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
	}()
	wg.Wait()
	for _, f := range x.failures {
		t.Error(f)
	}
	if len(x.done) != x.want {
		t.Fatalf("completed %d of %d changes before the deadline", len(x.done), x.want)
	}
	for id, n := range x.done {
		if n != 1 {
			t.Errorf("change %d handed out %d times", id, n)
		}
	}
}

// extendRace is the shared state of testExtendConcurrent.
type extendRace struct {
	s        billsync.Store
	want     int
	mu       sync.Mutex
	enqueued int
	inFlight map[int64]billsync.Change // held by a worker, not finished
	done     map[int64]int
	failures []string
}

func (x *extendRace) fail(format string, args ...any) {
	x.mu.Lock()
	x.failures = append(x.failures, fmt.Sprintf(format, args...))
	x.mu.Unlock()
}

func (x *extendRace) finished() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.enqueued == x.want && len(x.done) == x.want
}

// enqueue adds a change to every partition per round, in one call.
func (x *extendRace) enqueue(t *testing.T, partitions, rounds int) {
	for r := range rounds {
		var cs []*billsync.Change
		for p := range partitions {
			cs = append(cs, change(fmt.Sprintf("account:%d", (p*7+r)%partitions), fmt.Sprintf("%d/%d", r, p)))
		}
		if _, err := x.s.Enqueue(t.Context(), cs...); err != nil {
			x.fail("enqueue: %v", err)
			return
		}
		x.mu.Lock()
		x.enqueued += len(cs)
		x.mu.Unlock()
	}
}

// renew extends every change in flight, over and over, until stop.
func (x *extendRace) renew(t *testing.T, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		x.mu.Lock()
		var fs []billsync.Fence
		for _, c := range x.inFlight {
			fs = append(fs, billsync.Fence{ChangeID: c.ID, Token: c.Fence})
		}
		x.mu.Unlock()
		lost, err := x.s.Extend(t.Context(), time.Minute, fs...)
		if err != nil {
			x.fail("extend: %v", err)
			return
		}
		x.mu.Lock()
		for _, id := range lost {
			if _, held := x.inFlight[id]; held {
				x.failures = append(x.failures, fmt.Sprintf("change %d lost while held", id))
			}
		}
		x.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
}

// work claims runs and completes them, each from its highest id down so
// that the head is let go last, until everything is done.
func (x *extendRace) work(t *testing.T, w int, deadline time.Time) {
	for time.Now().Before(deadline) && !x.finished() {
		runs, err := x.s.ClaimRuns(t.Context(), 2, 3, time.Minute)
		if err != nil {
			x.fail("worker %d: claim: %v", w, err)
			return
		}
		if len(runs) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		x.mu.Lock()
		for _, run := range runs {
			for _, c := range run {
				x.inFlight[c.ID] = c
			}
		}
		x.mu.Unlock()
		for _, run := range runs {
			for _, c := range slices.Backward(run) {
				x.mu.Lock()
				delete(x.inFlight, c.ID) // finishing: no longer renewed
				x.done[c.ID]++
				x.mu.Unlock()
				if err := x.s.Complete(billsync.Fenced(t.Context(), c), c.ID); err != nil {
					x.fail("worker %d: complete %d: %v", w, c.ID, err)
					return
				}
			}
		}
	}
}
