package batch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// Timers that never fire in a test: only the joined callers' waiting
// sends anything.
var never = Options{MaxWait: time.Hour, MaxLinger: time.Hour}

func upsertOne(ctx context.Context, b *Batcher, rec string) error {
	_, err := b.Upsert(ctx, "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": rec}})
	return err
}

// When every joined caller waits, the batch is sent: one call, whatever
// the timers say and however slowly the callers arrive.
func TestJoinedCallersSendWhenAllWait(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	b := New(org, never)
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	leaves := make([]func(), n)
	ctxs := make([]context.Context, n)
	for i := range n {
		ctxs[i], leaves[i] = b.Join(context.Background())
	}
	for i := range n {
		wg.Go(func() {
			defer leaves[i]()
			errs[i] = upsertOne(ctxs[i], b, fmt.Sprintf("acc_%d", i))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	if got := callSizes(org); !slices.Equal(got, []int{n}) {
		t.Fatalf("calls %v, want one of %d", got, n)
	}
}

// A joined caller that leaves without a request lets the others' batch
// go; a caller that is not joined neither holds a batch nor sends it.
func TestLeavingSendsTheRest(t *testing.T) {
	t.Parallel()
	org := mock.NewOrg()
	b := New(org, never)
	waiting, leaveW := b.Join(context.Background())
	_, leaveIdle := b.Join(context.Background())
	done := make(chan error, 2)
	go func() { done <- upsertOne(waiting, b, "acc_1") }()
	go func() { done <- upsertOne(context.Background(), b, "acc_2") }() // not joined
	for deadline := time.Now().Add(15 * time.Second); b.Waiting() < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting after 15 s, want 2", b.Waiting())
		}
	}
	if n := len(org.Calls()); n != 0 {
		t.Fatalf("%d calls while a joined caller may still add", n)
	}
	leaveIdle()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("the batch was not sent after the idle caller left")
		}
	}
	leaveW()
	if got := callSizes(org); !slices.Equal(got, []int{2}) {
		t.Fatalf("calls %v, want one of 2", got)
	}
}

// A record's next write waits while a call naming it is in flight,
// however long that call takes: two calls in flight have no order.
func TestNoSecondCallForARecordInFlight(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	org := &mock.Org{Hook: func(ctx context.Context, c mock.Call) error {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			<-hold // the first call is held until the second request waited through several timers
		}
		return nil
	}}
	b := New(org, Options{MaxWait: time.Millisecond})
	firstDone := make(chan error, 1)
	go func() { firstDone <- upsertOne(context.Background(), b, "acc_1") }()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		n := calls
		mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first call never started")
		}
	}
	secondDone := make(chan error, 1)
	go func() { secondDone <- upsertOne(context.Background(), b, "acc_1") }()
	for deadline := time.Now().Add(15 * time.Second); b.Waiting() < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second request never queued")
		}
	}
	// Let its timer fire many times: it must stay queued.
	for range 20 {
		time.Sleep(2 * time.Millisecond)
		mu.Lock()
		n := calls
		mu.Unlock()
		if n != 1 {
			t.Fatalf("%d calls while the first, naming the same record, was in flight", n)
		}
	}
	close(hold)
	for _, ch := range []chan error{firstDone, secondDone} {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("a write never finished")
		}
	}
}
