package quotesync

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// Billing is the part of the billing platform quote sync uses: the
// quote's account (for its crmAccountId) and the write-back of
// crmOpportunityId. Any billsync.Billing satisfies it.
type Billing interface {
	Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error)
	Update(ctx context.Context, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error)
}

// Config wires a Syncer.
type Config struct {
	CRM     billsync.CRM
	State   billsync.StateStore
	Billing Billing
	// Mapping is the quote field mapping; nil means mapping.DefaultQuote().
	Mapping *mapping.QuoteMapping
	Logger  *slog.Logger
	Clock   func() time.Time
}

// Syncer applies quote changes from billing to Salesforce. It is safe for
// concurrent use by changes of different quotes.
type Syncer struct {
	cfg   Config
	m     *mapping.QuoteMapping
	log   *slog.Logger
	cache *quoteCache
}

// New checks cfg and returns a Syncer.
func New(cfg Config) (*Syncer, error) {
	if cfg.CRM == nil || cfg.State == nil || cfg.Billing == nil {
		return nil, errors.New("quotesync: CRM, State and Billing are required")
	}
	if cfg.Mapping == nil {
		cfg.Mapping = mapping.DefaultQuote()
	}
	if err := cfg.Mapping.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Syncer{cfg: cfg, m: cfg.Mapping, log: cfg.Logger,
		cache: &quoteCache{describes: map[string]cachedDescribe{}, pricebook: map[string]cachedPricebook{}}}, nil
}

func (s *Syncer) now() time.Time { return s.cfg.Clock().UTC() }

// quoteMapping is the quote field mapping in use.
func (s *Syncer) quoteMapping() *mapping.QuoteMapping { return s.m }

// state is the quote's sync state, nil when it was never synced.
func (s *Syncer) state(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.SyncState, error) {
	st, err := s.cfg.State.SyncState(ctx, t, billingID)
	if notFound(err) {
		return nil, nil
	}
	return st, err
}

var sfIDPattern = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)

func notFound(err error) bool { return billsync.ErrorCode(err) == billsync.ENOTFOUND }

func decodeObject(b json.RawMessage) (billsync.Entity, error) {
	if len(b) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "change has no payload")
	}
	return billsync.DecodeEntity(b)
}

// Warm reads and caches the describes quote sync needs, so the first quote
// after a start spends no calls on them. Call it at start-up; a failure is
// not fatal, as each sync reads what the cache lacks.
func (s *Syncer) Warm(ctx context.Context) error {
	_, err := s.quoteOrgShape(ctx)
	return err
}
