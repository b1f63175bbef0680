package retention

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/billsync/billsync/mock"
)

// Prune prunes at once, at now minus the retention, and stops with ctx;
// a failing store does not stop it.
func TestPrune(t *testing.T) {
	for _, storeErr := range []error{nil, errors.New("disk full")} {
		cuts := make(chan time.Time, 1)
		st := &mock.LogStore{PruneLogsFn: func(_ context.Context, before time.Time) (int64, error) {
			cuts <- before
			return 3, storeErr
		}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		keep := 30 * 24 * time.Hour
		go func() { done <- Prune(ctx, st, keep, slog.New(slog.DiscardHandler)) }()
		select {
		case cut := <-cuts:
			if d := time.Since(cut) - keep; d < 0 || d > time.Minute {
				t.Errorf("pruned before %v: %v off now minus the retention", cut, d)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Prune did not prune at once")
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Prune ended with %v, want context.Canceled", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Prune did not stop with its context")
		}
	}
}
