package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/sandbox"
)

// remapped is what a remappable harness's billsync starts with: a mapping
// file and a data directory, which a test changes while billsync is down
// (harness.whileDown) to restart it on them.
type remapped struct{ mapping, data atomic.Value }

// startRemappable starts a sandbox harness whose billsync reads the
// mapping file and data directory r names each time it starts; at first
// neither is set (the default mapping, the sandbox's data directory).
func startRemappable(t *testing.T) (*harness, *remapped) {
	t.Helper()
	r := &remapped{}
	r.mapping.Store("")
	r.data.Store("")
	h := startHarness(t, sandbox.Options{StartApp: func(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
		cfg := sandboxConfig(ac)
		cfg.Mapping = r.mapping.Load().(string)
		if d := r.data.Load().(string); d != "" {
			cfg.Data = d
		}
		app, err := StartApp(ctx, cfg, log)
		if err != nil {
			return nil, err // not a typed nil App
		}
		return app, nil
	}})
	return h, r
}

// useMapping writes m to a file of the test's and has billsync start on it.
func (r *remapped) useMapping(t *testing.T, m *mapping.Mapping) {
	t.Helper()
	r.mapping.Store(writeMapping(t, m))
}
