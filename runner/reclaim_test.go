package runner

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
	"github.com/billsync/billsync/sqlitestore"
)

// claimWatch is a queue whose claims the test can count: how many
// ClaimRuns calls have returned, and what each took.
type claimWatch struct {
	billsync.Queue
	mu     sync.Mutex
	rounds int
	took   [][]int64
}

func (q *claimWatch) ClaimRuns(ctx context.Context, max, perRun int, lease time.Duration) ([][]billsync.Change, error) {
	runs, err := q.Queue.ClaimRuns(ctx, max, perRun, lease)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.rounds++
	for _, run := range runs {
		var ids []int64
		for _, c := range run {
			ids = append(ids, c.ID)
		}
		q.took = append(q.took, ids)
	}
	return runs, err
}

func (q *claimWatch) state() (rounds int, took [][]int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.rounds, append([][]int64(nil), q.took...)
}

// reclaimQueues are the queues the re-claim test runs on: the mock and
// the SQLite store, which must agree.
func reclaimQueues(t *testing.T) map[string]func(t *testing.T) billsync.Queue {
	return map[string]func(t *testing.T) billsync.Queue{
		"mock": func(*testing.T) billsync.Queue { return mock.NewStore() },
		"sqlite": func(t *testing.T) billsync.Queue {
			s, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "billsync.db"), sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

// A change of a run is to be retried (its retry already due) while a
// later level of the same round is still being applied: the run still
// holds that level's changes, so nothing of the partition may be claimed
// again meanwhile — not by this process's other workers either. Before,
// the retry made the change its partition's due head at once, the next
// claim round took it with the changes behind it (those still being
// applied, and a newer state of one of their records queued since), the
// second run applied the newer state, and then the first run's older
// write landed on top: the record's final edit was lost for good, and
// the first run reported a "lost lease" although no lease had run out.
func TestRunnerRetryDoesNotHandTheRunToAnotherClaim(t *testing.T) {
	t.Parallel()
	for name, open := range reclaimQueues(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testRetryKeepsTheRun(t, open(t))
		})
	}
}

func testRetryKeepsTheRun(t *testing.T, store billsync.Queue) {
	ctx := context.Background()
	part := billsync.AccountPartition("a")
	add := func(obj billsync.ObjectType, op billsync.Op, rec, name string) billsync.Change {
		c := &billsync.Change{Partition: part, Source: billsync.SideBilling, Object: obj, Op: op, RecordID: rec,
			EventID: "evt:" + name, Payload: []byte(`"` + name + `"`)}
		if _, err := store.Enqueue(ctx, c); err != nil {
			t.Fatal(err)
		}
		return *c
	}
	// One round: the account (retried), then the balance's level.
	acct := add(billsync.ObjectAccount, billsync.OpUpdated, "a", "acct")
	older := add(billsync.ObjectBalance, billsync.OpCreated, "b1", "old name")

	var mu sync.Mutex
	written := map[string]string{} // the "Salesforce" record: the last write wins
	processed := map[int64]int{}
	acctIn, acctGo := make(chan struct{}), make(chan struct{})
	entered, proceed := make(chan struct{}), make(chan struct{})
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		processed[c.ID]++
		n := processed[c.ID]
		mu.Unlock()
		switch {
		case c.ID == acct.ID && n == 1:
			close(acctIn)
			<-acctGo
			// Due again at once (a retry time already past).
			return attempt.Result{Disposition: attempt.Retry, RetryAt: time.Now().Add(-time.Second),
				Err: errors.New("busy"), Entries: []billsync.LogEntry{{Object: c.Object, BillingID: c.RecordID, Outcome: billsync.OutcomeRetrying, ChangeID: c.ID}}}
		case c.ID == older.ID && n == 1:
			close(entered)
			<-proceed // the write is on its way (a joined batch, a slow call)
		}
		if c.Object == billsync.ObjectBalance {
			mu.Lock()
			written[c.RecordID] = string(c.Payload)
			mu.Unlock()
		}
		return inner(ctx, c)
	}
	q := &claimWatch{Queue: store}
	logs := &logRecorder{}
	r := New(Config{Processor: p, Queue: q, Workers: 2, Lease: time.Hour, Poll: 5 * time.Millisecond, Logger: slog.New(logs)})
	stop := start(t, r)

	wait := func(c chan struct{}, what string) {
		t.Helper()
		select {
		case <-c:
		case <-time.After(waitFor):
			t.Fatalf("%s never happened", what)
		}
	}
	// The balance's newest state arrives after the run was claimed.
	wait(acctIn, "the account's attempt")
	newer := add(billsync.ObjectBalance, billsync.OpUpdated, "b1", "new name")
	close(acctGo)
	wait(entered, "the balance's attempt")
	roundsBefore, _ := q.state()
	// Let the other worker's claim rounds see the queue as it is now.
	eventually(t, "a claim round after the newer state", func() bool { n, _ := q.state(); return n >= roundsBefore+2 })
	if _, took := q.state(); len(took) > 1 {
		// Another run took the partition: let it apply what it took.
		eventually(t, "the other run applying the newer state", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return processed[newer.ID] > 0
		})
	}
	close(proceed)

	eventually(t, "the queue drained", func() bool {
		st, err := store.Stats(ctx)
		return err == nil && st.Pending == 0 && st.Running == 0
	})
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	_, took := q.state()
	mu.Lock()
	defer mu.Unlock()
	if got := written["b1"]; got != `"new name"` {
		t.Errorf("the balance's last write was %s, want its newest state \"new name\" (claims: %v)", got, took)
	}
	for _, ids := range took[1:] {
		for _, id := range ids {
			if id == older.ID {
				t.Errorf("change %d was claimed again while its run was applying it (claims: %v)", older.ID, took)
			}
		}
	}
	if n := lostWarnings(logs); n != 0 {
		t.Errorf("a lease that never ran out was reported lost:\n%s", strings.Join(logs.messages(), "\n"))
	}
	if processed[acct.ID] != 2 {
		t.Errorf("the retried account was applied %d times, want twice", processed[acct.ID])
	}
}

// settleProbe is a queue that, right after the first Retry or Release
// of a run's end, claims as another worker would, and keeps what it got.
type settleProbe struct {
	billsync.Queue
	mu     sync.Mutex
	writes []string
	probed [][]billsync.Change
}

func (q *settleProbe) after(what string, err error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.writes = append(q.writes, what)
	if len(q.writes) == 1 {
		runs, cerr := q.Queue.ClaimRuns(context.Background(), 10, 100, time.Hour)
		if cerr != nil {
			return cerr
		}
		q.probed = runs
	}
	return err
}

func (q *settleProbe) Retry(ctx context.Context, id int64, at time.Time, lastError string, entries ...billsync.LogEntry) error {
	return q.after("retry", q.Queue.Retry(ctx, id, at, lastError, entries...))
}

func (q *settleProbe) Release(ctx context.Context, ids ...int64) error {
	return q.after("release", q.Queue.Release(ctx, ids...))
}

// A run ends with a change to retry and a later round to hand back: two
// writes. Whichever comes first, the partition must not be claimable
// between them (the run still holds the other change), else the claim
// takes the held change and the run's own write is refused as a lost
// lease. The retried change comes before the handed-back one ("retry
// lowest") or after it ("retry above": a record's second step has a
// lower id than another record's first).
func TestRunnerRunEndsWithoutAGap(t *testing.T) {
	t.Parallel()
	part := billsync.AccountPartition("a")
	bill := func(op billsync.Op, rec string) *billsync.Change {
		return &billsync.Change{Partition: part, Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: op, RecordID: rec, EventID: "evt:" + rec + string(op)}
	}
	for name, tc := range map[string]struct {
		changes []*billsync.Change
		retry   int // index of the change to retry
	}{
		"retry lowest": {[]*billsync.Change{bill(billsync.OpUpdated, "a"),
			{Partition: part, Source: billsync.SideSalesforce, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "a01000000000001", EventID: "evt:sf"}}, 0},
		"retry above": {[]*billsync.Change{bill(billsync.OpDeleted, "y"), bill(billsync.OpUpdated, "y"), bill(billsync.OpUpdated, "x")}, 2},
	} {
		for qname, open := range reclaimQueues(t) {
			t.Run(name+"/"+qname, func(t *testing.T) {
				t.Parallel()
				store := open(t)
				// Each queue gets its own copies: Enqueue sets their ids,
				// and the subtests run in parallel.
				changes := make([]*billsync.Change, len(tc.changes))
				for i, c := range tc.changes {
					cp := *c
					changes[i] = &cp
				}
				if _, err := store.Enqueue(context.Background(), changes...); err != nil {
					t.Fatal(err)
				}
				retried := changes[tc.retry].ID
				p := done()
				inner := p.ProcessFn
				p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
					if c.ID == retried {
						return attempt.Result{Disposition: attempt.Retry, RetryAt: time.Now().Add(-time.Second), Err: errors.New("busy")}
					}
					return inner(ctx, c)
				}
				q := &settleProbe{Queue: store}
				logs := &logRecorder{}
				r := New(Config{Processor: p, Queue: q, Workers: 1, Lease: time.Hour, Poll: 5 * time.Millisecond, Logger: slog.New(logs)})
				stop := start(t, r)
				eventually(t, "the run's end", func() bool { q.mu.Lock(); defer q.mu.Unlock(); return len(q.writes) >= 2 })
				stop()
				q.mu.Lock()
				defer q.mu.Unlock()
				for _, run := range q.probed {
					for _, c := range run {
						t.Errorf("after the run's first end write (of %v) a claim took change %d: the run still held it", q.writes, c.ID)
					}
				}
				if n := lostWarnings(logs); n != 0 {
					t.Errorf("a lease that never ran out was reported lost:\n%s", strings.Join(logs.messages(), "\n"))
				}
			})
		}
	}
}
