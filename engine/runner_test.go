package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// sliceQueue hands out changes and records claim sizes and outcomes.
type sliceQueue struct {
	billsync.Queue
	mu       sync.Mutex
	waiting  []billsync.Change
	claims   []int
	complete int
}

func (q *sliceQueue) Claim(ctx context.Context, max int, lease time.Duration) ([]billsync.Change, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := min(max, len(q.waiting))
	out := q.waiting[:n]
	q.waiting = q.waiting[n:]
	if n > 0 {
		q.claims = append(q.claims, n)
	}
	return out, nil
}

func (q *sliceQueue) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.complete++
	return nil
}

func (q *sliceQueue) state() ([]int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]int(nil), q.claims...), q.complete
}

// Above the API budget share the runner claims in small, slow rounds;
// under it, in full rounds.
func TestRunnerSlowsDownOverBudget(t *testing.T) {
	t.Parallel()
	for _, over := range []bool{false, true} {
		b := setup(t)
		q := &sliceQueue{}
		for i := range 64 {
			q.waiting = append(q.waiting, billingChange(t, billsync.ObjectAccount, billsync.OpCreated,
				fmt.Sprintf(`{"id":"acc_%d","code":"C","name":"N","version":1}`, i)))
		}
		r := NewRunner(RunnerConfig{Engine: b.engine, Queue: q, Workers: 32, SlowPoll: 50 * time.Millisecond,
			Budget: func() (int, int, bool) {
				if over {
					return 95, 100, true
				}
				return 10, 100, true
			}})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { r.Run(ctx); close(done) }()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			if _, n := q.state(); n == 64 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		<-done
		claims, completed := q.state()
		if completed != 64 {
			t.Fatalf("over=%v: %d of 64 completed", over, completed)
		}
		for _, n := range claims {
			if over && n > 4 {
				t.Fatalf("over budget: claimed %d in one round (claims %v), want at most 32/8", n, claims)
			}
		}
		if !over && claims[0] != 32 {
			t.Fatalf("under budget: first round %d, want 32", claims[0])
		}
	}
}
