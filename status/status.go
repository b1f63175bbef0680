// Package status keeps billsync's recent health and activity for the
// console's overview: a sample a minute of queue depth, API use and
// synced changes over the last hour, and the latest check of the billing
// connection. It reads what the process already knows (the listener's
// state, the Salesforce client's Sforce-Limit-Info, the store's queue
// stats, the sync counter) and spends one billing call per interval.
package status

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// Config wires a Sampler. Queue is required; every other source may be
// nil (the figure is then reported as unknown or zero).
type Config struct {
	Queue interface {
		Stats(ctx context.Context) (billsync.QueueStats, error)
	}
	Stream func() billsync.StreamStatus
	// API is the org's daily API use from the latest answer.
	API func() (used, max int, ok bool)
	// Synced is the running count of successful sync outcomes.
	Synced func() int64
	// Billing checks the billing connection (a cheap authenticated call);
	// BillingPlatform names the platform.
	Billing         func(ctx context.Context) error
	BillingPlatform string
	// Quotes checks the quote source's connection (billing.quotes) when
	// it is a platform of its own; QuotesPlatform names it.
	Quotes         func(ctx context.Context) error
	QuotesPlatform string
	// SalesforceURL is the org's instance URL ("" while not logged in);
	// BillingRecordURL a link template for billing records.
	SalesforceURL    func(ctx context.Context) string
	BillingRecordURL string
	// Every is the sampling interval (default one minute); Keep how many
	// samples are kept (default 60: an hour).
	Every  time.Duration
	Keep   int
	Clock  func() time.Time
	Logger *slog.Logger
}

// Sampler samples on an interval and answers Status.
type Sampler struct {
	cfg Config

	mu         sync.Mutex
	samples    []billsync.StatusSample
	lastSynced int64
	billing    billsync.ConnectionStatus
	quotes     billsync.ConnectionStatus
}

// New returns a Sampler; Run starts its sampling.
func New(cfg Config) *Sampler {
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	if cfg.Keep <= 0 {
		cfg.Keep = 60
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Sampler{cfg: cfg}
}

// Run samples at once and then every interval until ctx ends.
func (s *Sampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Every)
	defer t.Stop()
	for {
		s.Sample(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Sample takes one sample now and checks the billing connection.
func (s *Sampler) Sample(ctx context.Context) {
	now := s.cfg.Clock()
	smp := billsync.StatusSample{At: now.UTC()}
	if st, err := s.cfg.Queue.Stats(ctx); err == nil {
		smp.Pending = st.Pending
	} else {
		s.cfg.Logger.Debug("status: reading queue stats", "err", err)
	}
	if s.cfg.API != nil {
		if used, _, ok := s.cfg.API(); ok {
			smp.APIUsed = used
		}
	}
	conn := check(ctx, s.cfg.Billing, s.cfg.BillingPlatform, now)
	quotes := check(ctx, s.cfg.Quotes, s.cfg.QuotesPlatform, now)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.Synced != nil {
		total := s.cfg.Synced()
		if len(s.samples) > 0 || s.lastSynced > 0 {
			smp.Synced = max(0, total-s.lastSynced)
		}
		s.lastSynced = total
	}
	s.samples = append(s.samples, smp)
	if over := len(s.samples) - s.cfg.Keep; over > 0 {
		s.samples = append(s.samples[:0:0], s.samples[over:]...)
	}
	if s.cfg.Billing != nil {
		s.billing = conn
	}
	if s.cfg.Quotes != nil {
		s.quotes = quotes
	}
}

// check runs one connection check, nil when there is nothing to check.
func check(ctx context.Context, fn func(context.Context) error, platform string, now time.Time) billsync.ConnectionStatus {
	if fn == nil {
		return billsync.ConnectionStatus{}
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err := fn(cctx)
	cancel()
	conn := billsync.ConnectionStatus{Platform: platform, OK: err == nil, CheckedAt: now.UTC()}
	if err != nil {
		conn.Error = billsync.ErrorMessage(err)
	}
	return conn
}

// Status reports the live figures with the kept trend.
func (s *Sampler) Status(ctx context.Context) (billsync.Status, error) {
	st := billsync.Status{At: s.cfg.Clock().UTC(), BillingRecordURL: s.cfg.BillingRecordURL}
	if s.cfg.SalesforceURL != nil {
		st.SalesforceURL = s.cfg.SalesforceURL(ctx)
	}
	q, err := s.cfg.Queue.Stats(ctx)
	if err != nil {
		return billsync.Status{}, err
	}
	st.Queue = q
	if s.cfg.Stream != nil {
		st.Stream = s.cfg.Stream()
	}
	if s.cfg.API != nil {
		if used, max, ok := s.cfg.API(); ok {
			st.APIUsed, st.APIMax = used, max
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Billing = s.billing
	st.Billing.Platform = s.cfg.BillingPlatform
	if s.cfg.Quotes != nil {
		q := s.quotes
		q.Platform = s.cfg.QuotesPlatform
		st.Quotes = &q
	}
	st.Trend = append([]billsync.StatusSample(nil), s.samples...)
	for _, smp := range st.Trend[min(1, len(st.Trend)):] {
		st.SyncedLastHour += smp.Synced
	}
	if s.cfg.Synced != nil && len(st.Trend) > 0 {
		// What synced since the latest sample counts too; the oldest
		// sample's count, from before the hour, does not.
		st.SyncedLastHour += max(0, s.cfg.Synced()-s.lastSynced)
	}
	return st, nil
}
