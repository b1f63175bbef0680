package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// testLeases: one holder at a time; renewal by the holder; release; an
// expired lease moves to the next caller; concurrent takers, one winner.
func testLeases(t *testing.T, s billsync.Store) {
	ctx := context.Background()
	take := func(name, owner string, ttl time.Duration) bool {
		t.Helper()
		ok, err := s.TryLease(ctx, name, owner, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("stream", "a", time.Hour) {
		t.Fatal("a could not take a free lease")
	}
	if take("stream", "b", time.Hour) {
		t.Fatal("b took a lease a holds")
	}
	if !take("stream", "a", time.Hour) {
		t.Fatal("a could not renew its own lease")
	}
	if !take("other", "b", time.Hour) {
		t.Fatal("leases are not independent by name")
	}
	if err := s.ReleaseLease(ctx, "stream", "b"); err != nil {
		t.Fatal(err)
	}
	if take("stream", "b", time.Hour) {
		t.Fatal("a non-holder's release freed the lease")
	}
	if err := s.ReleaseLease(ctx, "stream", "a"); err != nil {
		t.Fatal(err)
	}
	if !take("stream", "b", time.Millisecond) {
		t.Fatal("b could not take a released lease")
	}
	time.Sleep(20 * time.Millisecond)
	if !take("stream", "c", time.Hour) {
		t.Fatal("c could not take an expired lease")
	}
	if _, err := s.TryLease(ctx, "", "a", time.Hour); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("empty name: %v", err)
	}

	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.TryLease(ctx, "race", string(rune('a'+i)), time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				winners++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if winners != 1 {
		t.Fatalf("%d concurrent takers won the lease, want 1", winners)
	}
}
