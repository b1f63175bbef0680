package runner

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// A backlog wider than the workers widens the runner to its bulk
// workers, so that many changes wait together for the batcher (Wide);
// once the backlog is worked off the runner narrows again, and a small
// backlog never widens it.
func TestBacklogWidensToBulkWorkers(t *testing.T) {
	t.Parallel()
	s := mock.NewStore()
	for i := range 100 {
		enqueue(t, s, fmt.Sprintf("account:a%03d", i), fmt.Sprintf("a%03d", i))
	}
	gate := make(chan struct{})
	var inFlight, most, processed atomic.Int64
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-gate
		inFlight.Add(-1)
		processed.Add(1)
		return inner(ctx, c)
	}
	r := New(Config{Processor: p, Queue: s, Workers: 4, BulkWorkers: 40, Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = r.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	eventually(t, "40 changes in flight", func() bool { return inFlight.Load() == 40 })
	if !r.Wide() {
		t.Error("40 changes in flight and the runner does not report itself wide")
	}
	close(gate)
	eventually(t, "the backlog worked off", func() bool { return processed.Load() == 100 })
	if m := most.Load(); m != 40 {
		t.Errorf("at most %d changes were in flight; want the 40 bulk workers", m)
	}
	eventually(t, "the runner narrowed", func() bool { return !r.Wide() })

	// A backlog smaller than the workers leaves it narrow.
	most.Store(0)
	for i := range 3 {
		enqueue(t, s, fmt.Sprintf("account:b%d", i), fmt.Sprintf("b%d", i))
	}
	r.Wake()
	eventually(t, "the small backlog", func() bool { return processed.Load() == 103 })
	if r.Wide() || most.Load() > 3 {
		t.Errorf("a backlog of 3 widened the runner (wide %v, %d in flight)", r.Wide(), most.Load())
	}
}
