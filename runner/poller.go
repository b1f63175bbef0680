package runner

import (
	"context"
	"log/slog"
	"time"

	"github.com/billsync/billsync"
)

// MetaPollCheckpoint is where the poller keeps how far it has read.
const MetaPollCheckpoint = "billing.poll_checkpoint"

// PollerConfig configures a Poller.
type PollerConfig struct {
	Source billsync.BillingPoller
	Queue  billsync.Queue
	Meta   billsync.MetaStore
	// OnEnqueue wakes the runner after changes were queued.
	OnEnqueue func()
	// Interval is the time between polls; default 1 minute.
	Interval time.Duration
	// Leases, when set, makes polling a singleton across replicas sharing
	// a store: each poll is made only by the holder of the lease.
	Leases billsync.LeaseStore
	Owner  string
	Logger *slog.Logger
}

// Poller asks a billing platform periodically for what its webhooks may
// have missed or never send (billsync.BillingPoller) and queues it. The
// checkpoint is stored only after the changes it covers are queued, so a
// crash repeats a poll and never skips one; the changes' event ids make
// the repeat, and a change seen by both a webhook and a poll, land once.
type Poller struct {
	cfg PollerConfig
	log *slog.Logger
}

// NewPoller builds a Poller.
func NewPoller(cfg PollerConfig) *Poller {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	l := cfg.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Poller{cfg: cfg, log: l}
}

// Run polls every Interval until ctx ends; a failed poll is logged and
// tried again at the next tick.
func (p *Poller) Run(ctx context.Context) error {
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		if held, err := p.hold(ctx); err != nil {
			p.log.Warn("billing poll lease", "err", err)
		} else if held {
			if n, err := p.PollOnce(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("billing poll failed; trying again at the next interval", "err", err)
			} else if n > 0 {
				p.log.Info("billing poll queued changes", "changes", n)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (p *Poller) hold(ctx context.Context) (bool, error) {
	if p.cfg.Leases == nil {
		return true, nil
	}
	return p.cfg.Leases.TryLease(ctx, "billing-poll", p.cfg.Owner, 3*p.cfg.Interval)
}

// PollOnce makes one poll from the stored checkpoint, queues what it
// brings and stores the next checkpoint; it reports how many changes
// were new to the queue.
func (p *Poller) PollOnce(ctx context.Context) (int, error) {
	from, _, err := p.cfg.Meta.Meta(ctx, MetaPollCheckpoint)
	if err != nil {
		return 0, err
	}
	changes, next, err := p.cfg.Source.Poll(ctx, from)
	if err != nil {
		return 0, err
	}
	fresh := 0
	if len(changes) > 0 {
		dup, err := p.cfg.Queue.Enqueue(ctx, changes...)
		if err != nil {
			return 0, err
		}
		for _, d := range dup {
			if !d {
				fresh++
			}
		}
	}
	if next != from {
		if err := p.cfg.Meta.SetMeta(ctx, MetaPollCheckpoint, next); err != nil {
			return fresh, err
		}
	}
	if fresh > 0 && p.cfg.OnEnqueue != nil {
		p.cfg.OnEnqueue()
	}
	return fresh, nil
}
