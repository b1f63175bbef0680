package sqlstore

import (
	"log/slog"
	"time"
)

// DefaultSeenRetention is how long a processed event id is remembered.
const DefaultSeenRetention = 7 * 24 * time.Hour

// SeenPruneEvery bounds how often Enqueue spends time deleting expired
// event ids.
const SeenPruneEvery = time.Minute

// Defaults fills in what a store's zero options leave out: time.Now, a
// logger that discards, DefaultSeenRetention.
func Defaults(clock func() time.Time, log *slog.Logger, seenRetention time.Duration) (func() time.Time, *slog.Logger, time.Duration) {
	if clock == nil {
		clock = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if seenRetention <= 0 {
		seenRetention = DefaultSeenRetention
	}
	return clock, log, seenRetention
}
