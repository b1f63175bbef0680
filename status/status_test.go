package status

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

type fakeQueue struct{ pending atomic.Int64 }

func (q *fakeQueue) Stats(context.Context) (billsync.QueueStats, error) {
	return billsync.QueueStats{Pending: q.pending.Load()}, nil
}

// The trend keeps the last Keep samples, each with the queue depth, the
// API use and what synced since the sample before; the hour's throughput
// counts what synced after the oldest sample, including since the latest.
func TestSamplerTrendAndThroughput(t *testing.T) {
	t.Parallel()
	q := &fakeQueue{}
	var synced atomic.Int64
	var api atomic.Int64
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var billingErr atomic.Pointer[error]
	s := New(Config{Queue: q, Keep: 3, Clock: func() time.Time { return now },
		Synced: synced.Load,
		API:    func() (int, int, bool) { return int(api.Load()), 15000, api.Load() > 0 },
		Billing: func(context.Context) error {
			if p := billingErr.Load(); p != nil {
				return *p
			}
			return nil
		},
		Stream: func() billsync.StreamStatus { return billsync.StreamStatus{Connected: true} },
	})
	ctx := context.Background()
	synced.Store(7) // before the first sample: not this hour's
	for i := range 4 {
		q.pending.Store(int64(10 * i))
		api.Store(int64(100 + i))
		s.Sample(ctx)
		synced.Add(int64(i + 1))
		now = now.Add(time.Minute)
	}
	down := errors.New("billing answered 503")
	billingErr.Store(&down)
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Trend) != 3 || st.Trend[0].Pending != 10 || st.Trend[2].Pending != 30 || st.Trend[2].APIUsed != 103 {
		t.Fatalf("trend %+v", st.Trend)
	}
	// Samples 2 and 3 saw 2 and 3 synced; 4 more since the last one.
	if st.Trend[1].Synced != 2 || st.Trend[2].Synced != 3 || st.SyncedLastHour != 2+3+4 {
		t.Fatalf("synced: trend %+v, last hour %d", st.Trend, st.SyncedLastHour)
	}
	if st.APIUsed != 103 || st.APIMax != 15000 || !st.Stream.Connected || st.Queue.Pending != 30 {
		t.Fatalf("status %+v", st)
	}
	if !st.Billing.OK || st.Billing.CheckedAt.IsZero() {
		t.Fatalf("billing before the outage %+v", st.Billing)
	}
	s.Sample(ctx)
	if st, _ = s.Status(ctx); st.Billing.OK || st.Billing.Error != "billing answered 503" {
		t.Fatalf("billing during the outage %+v", st.Billing)
	}
}
