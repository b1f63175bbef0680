package retention

import (
	"context"
	"log/slog"
	"time"
)

// Store is what Prune needs of billsync's store.
type Store interface {
	PruneLogs(ctx context.Context, before time.Time) (int64, error)
}

// Every is how often Prune prunes after the first time.
const Every = time.Hour

// Prune deletes sync-log entries older than keep, at once and then every
// Every, until ctx ends. A failed prune is logged and tried again next
// time: the log grows a little meanwhile, and nothing else depends on it.
func Prune(ctx context.Context, store Store, keep time.Duration, log *slog.Logger) error {
	t := time.NewTicker(Every)
	defer t.Stop()
	for {
		if n, err := store.PruneLogs(ctx, time.Now().Add(-keep)); err != nil && ctx.Err() == nil {
			log.Warn("pruning the sync log", "err", err)
		} else if n > 0 {
			log.Info("pruned the sync log", "entries", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
