package runner

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// A run stays joined to the batcher from its first level to its last:
// its step leaves only once the outcome is recorded, and the run itself
// holds on while it moves to its next level. Otherwise, between the
// levels of a backlog's runs, the other runs' next-level batch goes
// without this run's writes (a few hundred of ten thousand rows at a
// time: collections calls and small Bulk jobs).
func TestRunStaysJoinedBetweenItsLevels(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	enqueueChange(t, store, billsync.Change{Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpCreated, RecordID: "acc_1"})
	enqueueChange(t, store, billsync.Change{Source: billsync.SideBilling, Object: billsync.ObjectBalance, Op: billsync.OpCreated, RecordID: "bal_1"})
	enqueueChange(t, store, billsync.Change{Source: billsync.SideBilling, Object: billsync.ObjectBalanceTransaction, Op: billsync.OpCreated, RecordID: "btx_1"})
	enqueueChange(t, store, billsync.Change{Source: billsync.SideBilling, Object: billsync.ObjectBalanceTransaction, Op: billsync.OpCreated, RecordID: "btx_2"})

	var mu sync.Mutex
	members, processed := 0, 0
	var gaps []int // changes processed when the run had no member left
	join := func(ctx context.Context) (context.Context, func()) {
		mu.Lock()
		members++
		mu.Unlock()
		var once sync.Once
		return ctx, func() {
			once.Do(func() {
				mu.Lock()
				defer mu.Unlock()
				if members--; members == 0 && processed < 4 {
					gaps = append(gaps, processed)
				}
			})
		}
	}
	var finished atomic.Int64
	p := done()
	inner := p.ProcessFn
	p.ProcessFn = func(ctx context.Context, c billsync.Change) attempt.Result {
		mu.Lock()
		processed++
		mu.Unlock()
		finished.Add(1)
		return inner(ctx, c)
	}
	start(t, New(Config{Processor: p, Queue: &recordingQueue{Store: store, onComplete: func() {
		// The step whose outcome this is has not left yet.
		mu.Lock()
		defer mu.Unlock()
		if members == 0 {
			gaps = append(gaps, -processed)
		}
	}}, Join: join, Poll: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}))
	eventually(t, "the run applied", func() bool { return len(store.LogEntries()) == 4 })
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) > 0 {
		t.Errorf("the run left the batcher before its last level (after %v changes; negative: while recording an outcome)", gaps)
	}
	if members != 0 {
		t.Errorf("%d memberships left after the run", members)
	}
}

// recordingQueue calls onComplete before each Complete.
type recordingQueue struct {
	*mock.Store
	onComplete func()
}

func (q *recordingQueue) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	q.onComplete()
	return q.Store.Complete(ctx, id, entries...)
}
