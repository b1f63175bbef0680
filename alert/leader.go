package alert

import (
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"
)

// Leases is what a Leader needs of the store (billsync.LeaseStore).
type Leases interface {
	TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, owner string) error
}

// Leader picks one replica, among several sharing a store, to send the
// alerts whose condition every replica reads alike from that store
// (pending changes, dead letters, held conflicts): without it each
// replica would send each of them. A rule that reads the replica's own
// state (the event stream, held by one replica at a time) is sent by
// whichever replica sees it.
type Leader struct {
	leases Leases
	name   string
	owner  string
	ttl    time.Duration
	log    *slog.Logger
	held   atomic.Bool
}

// NewLeader returns a Leader taking the lease name for owner, each hold
// lasting ttl unless renewed.
func NewLeader(leases Leases, name, owner string, ttl time.Duration, log *slog.Logger) *Leader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Leader{leases: leases, name: name, owner: owner, ttl: ttl, log: log}
}

// Run renews the lease every third of its ttl until ctx ends, then gives
// it up, so that another replica (or this one restarted) leads at once.
// Call Renew once before, so the first alerts find the lease decided.
func (l *Leader) Run(ctx context.Context) error {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := l.leases.ReleaseLease(rctx, l.name, l.owner); err != nil {
				l.log.Warn("alerts: giving up the sender lease", "err", err)
			}
			l.held.Store(false)
			return ctx.Err()
		case <-t.C:
			l.Renew(ctx)
		}
	}
}

// Renew takes or renews the lease once. A store that does not answer
// keeps the last answer until the lease would have run out anyway.
func (l *Leader) Renew(ctx context.Context) {
	ok, err := l.leases.TryLease(ctx, l.name, l.owner, l.ttl)
	if err != nil {
		l.log.Warn("alerts: renewing the sender lease", "err", err)
		return
	}
	if was := l.held.Swap(ok); was != ok && ok {
		l.log.Info("this replica sends the shared alerts")
	}
}

// Leads reports whether this replica holds the lease.
func (l *Leader) Leads() bool { return l.held.Load() }

// Sender sends through inner the messages of the rules named own always
// and the others only while this replica leads; a message it does not
// send is another replica's to send, and counts as delivered here.
func (l *Leader) Sender(inner Sender, own ...string) Sender {
	return leaderSender{l: l, inner: inner, own: own}
}

type leaderSender struct {
	l     *Leader
	inner Sender
	own   []string
}

func (s leaderSender) Send(ctx context.Context, m Message) error {
	if slices.Contains(s.own, m.Alert) || s.l.Leads() {
		return s.inner.Send(ctx, m)
	}
	return nil
}
