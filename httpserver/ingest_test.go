package httpserver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// Webhooks arriving together share transactions, and each caller learns
// its own outcome (stored or duplicate): while the first transaction is
// held, the other webhooks wait, and the next one takes them all.
func TestIngestCommitsInGroups(t *testing.T) {
	t.Parallel()
	const n = 200
	var g *ingester
	waiting := func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.pending)
	}
	var mu sync.Mutex
	var calls []int // changes per transaction
	seen := map[string]bool{"webhook:dup": true}
	q := &mock.Queue{EnqueueFn: func(ctx context.Context, cs ...*billsync.Change) ([]bool, error) {
		mu.Lock()
		calls = append(calls, len(cs))
		first := len(calls) == 1
		mu.Unlock()
		if first {
			deadline := time.Now().Add(30 * time.Second)
			for waiting() < n-len(cs) {
				if time.Now().After(deadline) {
					t.Errorf("%d webhooks waiting after 30s, want %d", waiting(), n-len(cs))
					break
				}
				time.Sleep(time.Millisecond)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		dup := make([]bool, len(cs))
		for i, c := range cs {
			dup[i] = seen[c.EventID]
			seen[c.EventID] = true
		}
		return dup, nil
	}}
	g = &ingester{q: q}
	var wg sync.WaitGroup
	results := make([]bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("webhook:%d", i)
			if i == 99 {
				id = "webhook:dup"
			}
			dup, err := g.enqueue(context.Background(), &billsync.Change{EventID: id})
			if err != nil {
				t.Error(err)
			}
			results[i] = dup
		}()
	}
	wg.Wait()
	for i, dup := range results {
		if dup != (i == 99) {
			t.Fatalf("webhook %d: dup=%v", i, dup)
		}
	}
	mu.Lock()
	total := 0
	for _, c := range calls {
		total += c
	}
	// One transaction when all arrived before the first began.
	if len(calls) > 2 || total != n {
		t.Fatalf("transactions of %v changes for %d webhooks, want the held one and one more for the rest", calls, n)
	}
	mu.Unlock()

	q.EnqueueFn = func(context.Context, ...*billsync.Change) ([]bool, error) {
		return nil, billsync.Errorf(billsync.EUNAVAILABLE, "disk full")
	}
	if _, err := g.enqueue(context.Background(), &billsync.Change{EventID: "x"}); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Fatalf("a failed commit must reach the caller: %v", err)
	}
}
