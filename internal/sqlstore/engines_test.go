package sqlstore_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/pgstore"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/sqlitestore"
	"github.com/billsync/billsync/storetest"
)

// The tests here need what storetest does not allow itself (a clock the
// test moves), and run once per engine.

type options struct {
	clock         func() time.Time
	seenRetention time.Duration
}

// engines opens a fresh store of each engine for t.
var engines = map[string]func(t *testing.T, o options) billsync.Store{
	"sqlite": func(t *testing.T, o options) billsync.Store {
		s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "b.db"),
			sqlitestore.Options{Clock: o.clock, SeenRetention: o.seenRetention})
		return storetest.Opened(t, s, err)
	},
	"postgres": func(t *testing.T, o options) billsync.Store {
		s, err := pgstore.Open(t.Context(), pgtest.DSN(t), pgstore.Options{Clock: o.clock, SeenRetention: o.seenRetention})
		return storetest.Opened(t, s, err)
	},
}

func forEngines(t *testing.T, test func(t *testing.T, open func(options) billsync.Store)) {
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			test(t, func(o options) billsync.Store { return open(t, o) })
		})
	}
}

// fakeClock is a settable clock for tests that move time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestSeenEventsExpire(t *testing.T) {
	forEngines(t, func(t *testing.T, open func(options) billsync.Store) {
		clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		s := open(options{clock: clock.Now, seenRetention: 48 * time.Hour})
		ctx := t.Context()
		enq := func(evt string) bool {
			t.Helper()
			dup, err := s.Enqueue(ctx, &billsync.Change{Partition: "account:a", RecordID: evt, EventID: evt})
			if err != nil {
				t.Fatal(err)
			}
			return dup[0]
		}
		enq("done")
		enq("stuck") // stays queued behind "done" for the whole test
		got, err := s.Claim(ctx, 1, time.Hour)
		if err != nil || len(got) != 1 {
			t.Fatal(got, err)
		}
		if err := s.Complete(ctx, got[0].ID); err != nil {
			t.Fatal(err)
		}

		clock.Add(47 * time.Hour)
		enq("trigger-1")
		if !enq("done") {
			t.Fatal("event id forgotten before its retention")
		}
		clock.Add(2 * time.Hour)
		enq("trigger-2") // prunes
		if enq("done") {
			t.Error("event id remembered after its retention")
		}
		// "stuck" is still queued: a late redelivery must not duplicate it.
		if !enq("stuck") {
			t.Error("event id of a queued change forgotten")
		}
	})
}

func TestClaimWithFakeClock(t *testing.T) {
	forEngines(t, func(t *testing.T, open func(options) billsync.Store) {
		clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		s := open(options{clock: clock.Now})
		ctx := t.Context()
		c := &billsync.Change{Partition: "account:a", EventID: "e1"}
		if _, err := s.Enqueue(ctx, c); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Claim(ctx, 1, time.Minute); len(got) != 1 {
			t.Fatal("not claimed")
		}
		clock.Add(59 * time.Second)
		if got, _ := s.Claim(ctx, 1, time.Minute); len(got) != 0 {
			t.Fatal("claimed again within its lease")
		}
		clock.Add(time.Second)
		got, err := s.Claim(ctx, 1, time.Minute)
		if err != nil || len(got) != 1 || got[0].Attempt != 2 {
			t.Fatalf("after the lease: %+v, %v", got, err)
		}
		if err := s.Retry(ctx, c.ID, clock.Now().Add(time.Hour), "later"); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Hour - time.Nanosecond)
		if got, _ := s.Claim(ctx, 1, time.Minute); len(got) != 0 {
			t.Fatal("claimed before its retry time")
		}
		clock.Add(time.Nanosecond)
		if got, _ := s.Claim(ctx, 1, time.Minute); len(got) != 1 {
			t.Fatal("not claimed at its retry time")
		}
	})
}

func TestQueueEntriesGetChangeIDs(t *testing.T) {
	forEngines(t, func(t *testing.T, open func(options) billsync.Store) {
		s := open(options{})
		ctx := t.Context()
		c := &billsync.Change{Partition: "account:a", EventID: "evt-9", RecordID: "a"}
		if _, err := s.Enqueue(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Claim(ctx, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := s.Complete(ctx, c.ID, billsync.LogEntry{BillingID: "a", Outcome: billsync.OutcomeSuccess}); err != nil {
			t.Fatal(err)
		}
		logs, _, err := s.Logs(ctx, billsync.LogFilter{})
		if err != nil || len(logs) != 1 || logs[0].ChangeID != c.ID || logs[0].EventID != "evt-9" {
			t.Fatalf("logs = %+v, %v", logs, err)
		}
	})
}
