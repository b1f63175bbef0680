package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// A call whose context has ended writes nothing and reads nothing, also
// where the engine runs its statements without watching the context
// (Dialect.NoInterrupt).
func TestEndedContextStopsCalls(t *testing.T) {
	forEngines(t, func(t *testing.T, open func(options) billsync.Store) {
		s := open(options{})
		ended, cancel := context.WithCancel(t.Context())
		cancel()

		if _, err := s.Enqueue(ended, &billsync.Change{Partition: "account:a", EventID: "e1"}); !errors.Is(err, context.Canceled) {
			t.Errorf("Enqueue = %v, want context.Canceled", err)
		}
		err := s.PutSyncState(ended, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "a"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("PutSyncState = %v, want context.Canceled", err)
		}
		if _, err := s.SyncState(ended, billsync.ObjectAccount, "a"); !errors.Is(err, context.Canceled) {
			t.Errorf("SyncState = %v, want context.Canceled", err)
		}
		if _, err := s.ClaimRuns(ended, 10, 10, time.Minute); !errors.Is(err, context.Canceled) {
			t.Errorf("ClaimRuns = %v, want context.Canceled", err)
		}

		ctx := t.Context()
		st, err := s.Stats(ctx)
		if err != nil || st.Pending != 0 {
			t.Errorf("after cancelled calls: %+v, %v", st, err)
		}
		if _, err := s.SyncState(ctx, billsync.ObjectAccount, "a"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
			t.Errorf("sync state stored by a cancelled call: %v", err)
		}
		// The store still works for a live context.
		if _, err := s.Enqueue(ctx, &billsync.Change{Partition: "account:a", EventID: "e1"}); err != nil {
			t.Fatal(err)
		}
		if runs, err := s.ClaimRuns(ctx, 10, 10, time.Minute); err != nil || len(runs) != 1 {
			t.Fatalf("ClaimRuns = %v, %v", runs, err)
		}
	})
}
