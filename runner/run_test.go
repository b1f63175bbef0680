package runner

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

func enqueueChange(t *testing.T, s *mock.Store, c billsync.Change) billsync.Change {
	t.Helper()
	c.Partition = "account:a"
	if c.EventID == "" {
		c.EventID = "evt:" + string(c.Object) + ":" + c.RecordID + ":" + time.Now().String()
	}
	if _, err := s.Enqueue(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// One account's records arriving together are applied by level: the
// account, then its balances together, then its transactions together.
func TestRunAppliesLevelsTogether(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	b := func(obj billsync.ObjectType, rec string) billsync.Change {
		return enqueueChange(t, store, billsync.Change{Source: billsync.SideBilling, Object: obj, Op: billsync.OpCreated, RecordID: rec})
	}
	// Queue order is not dependency order.
	b(billsync.ObjectBalanceTransaction, "t1")
	b(billsync.ObjectBalance, "b1")
	b(billsync.ObjectAccount, "a")
	b(billsync.ObjectBalanceTransaction, "t2")
	b(billsync.ObjectBalance, "b2")

	var mu sync.Mutex
	var order []string
	arrived := map[billsync.ObjectType]int{}
	all := map[billsync.ObjectType]int{billsync.ObjectAccount: 1, billsync.ObjectBalance: 2, billsync.ObjectBalanceTransaction: 2}
	together := map[billsync.ObjectType]chan struct{}{}
	for o := range all {
		together[o] = make(chan struct{})
	}
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		order = append(order, c.RecordID)
		arrived[c.Object]++
		if arrived[c.Object] == all[c.Object] {
			close(together[c.Object])
		}
		mu.Unlock()
		// Each change waits until its whole level is in flight: a level
		// applied one at a time never gets there.
		select {
		case <-together[c.Object]:
		case <-time.After(waitFor):
			t.Errorf("%s waited alone for the rest of its level", c.RecordID)
		}
		return inner(ctx, c)
	}
	start(t, New(Config{Processor: p, Queue: store, Poll: 10 * time.Millisecond}))
	eventually(t, "five changes done", func() bool { return len(store.LogEntries()) == 5 })
	mu.Lock()
	defer mu.Unlock()
	rank := map[string]int{"a": 0, "b1": 1, "b2": 1, "t1": 2, "t2": 2}
	if !slices.IsSortedFunc(order, func(x, y string) int { return rank[x] - rank[y] }) {
		t.Fatalf("applied in order %v, want the account, then balances, then transactions", order)
	}
}

// A record's changes in one run fold into the newest: one attempt, and a
// coalesced entry for each folded change.
func TestRunFoldsRecordStates(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	var ids []int64
	for range 3 {
		c := enqueueChange(t, store, billsync.Change{Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "a"})
		ids = append(ids, c.ID)
	}
	var mu sync.Mutex
	var applied []int64
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		applied = append(applied, c.ID)
		mu.Unlock()
		return inner(ctx, c)
	}
	start(t, New(Config{Processor: p, Queue: store, Poll: 10 * time.Millisecond}))
	eventually(t, "three entries", func() bool { return len(store.LogEntries()) == 3 })
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(applied, ids[2:]) {
		t.Fatalf("applied %v, want only the newest %d", applied, ids[2])
	}
	for _, le := range store.LogEntries() {
		folded := le.ChangeID != ids[2]
		if folded != (le.Reason == billsync.ReasonCoalesced) || (folded && le.Outcome != billsync.OutcomeSkipped) {
			t.Errorf("entry %+v", le)
		}
	}
	if st, _ := store.Stats(context.Background()); st.Pending+st.Running != 0 {
		t.Fatalf("queue after the run: %+v", st)
	}
}

// A change to be retried holds back what follows it from the other side,
// which may be the same record: it goes back to the queue unattempted and
// runs after the retry.
func TestRunRetryHoldsBackTheRest(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	first := enqueueChange(t, store, billsync.Change{Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "acc_1"})
	later := enqueueChange(t, store, billsync.Change{Source: billsync.SideSalesforce, Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: "001000000000001AAA"})
	var mu sync.Mutex
	var applied []int64
	retryAt := time.Now().Add(time.Hour)
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		applied = append(applied, c.ID)
		mu.Unlock()
		if c.ID == first.ID {
			return attempt.Result{Disposition: attempt.Retry, RetryAt: retryAt, Err: billsync.Errorf(billsync.EUNAVAILABLE, "down")}
		}
		return inner(ctx, c)
	}
	start(t, New(Config{Processor: p, Queue: store, Poll: 10 * time.Millisecond}))
	eventually(t, "the run handed back", func() bool {
		mu.Lock()
		tried := len(applied) > 0
		mu.Unlock()
		st, _ := store.Stats(context.Background())
		return tried && st.Pending == 2 && st.Running == 0
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(applied, []int64{first.ID}) {
		t.Fatalf("applied %v, want only %d before its retry", applied, first.ID)
	}
	runs, err := store.ClaimRuns(context.Background(), 1, 10, time.Minute)
	if err != nil || len(runs) != 0 {
		t.Fatalf("claimable before the retry time: %v, %v", runs, err)
	}
	for _, le := range store.LogEntries() {
		if le.ChangeID == later.ID {
			t.Fatalf("the held-back change has a log entry: %+v", le)
		}
	}
}
