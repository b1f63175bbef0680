package httpserver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// slowQueue counts Enqueue calls; each takes a while, as an fsync does.
type slowQueue struct {
	billsync.Queue
	mu    sync.Mutex
	calls int
	seen  map[string]bool
	fail  error
}

func (q *slowQueue) Enqueue(ctx context.Context, cs ...*billsync.Change) ([]bool, error) {
	time.Sleep(5 * time.Millisecond)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.fail != nil {
		return nil, q.fail
	}
	dup := make([]bool, len(cs))
	for i, c := range cs {
		dup[i] = q.seen[c.EventID]
		q.seen[c.EventID] = true
	}
	return dup, nil
}

// Webhooks arriving together share transactions, and each caller learns
// its own outcome (stored or duplicate).
func TestIngestCommitsInGroups(t *testing.T) {
	t.Parallel()
	q := &slowQueue{seen: map[string]bool{"webhook:dup": true}}
	g := &ingester{q: q}
	var wg sync.WaitGroup
	results := make([]bool, 200)
	for i := range 200 {
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
	if q.calls >= 200 || q.calls == 0 {
		t.Fatalf("%d transactions for 200 webhooks", q.calls)
	}
	t.Logf("200 webhooks in %d transactions", q.calls)

	q.fail = billsync.Errorf(billsync.EUNAVAILABLE, "disk full")
	if _, err := g.enqueue(context.Background(), &billsync.Change{EventID: "x"}); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Fatalf("a failed commit must reach the caller: %v", err)
	}
}
