package quotesync

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// Salesforce fields of quote sync that no mapping renames (SPEC §2); the
// objects and their external ids are the mapping's (mapping.QuoteObjects).
const (
	fieldOverride = "OverrideOpportunitySync__c"
	fieldCurrency = "CurrencyIsoCode"
)

// Values of BillingSyncStatus__c on a Quote and its lines, and the
// sync-log reason of a quote that landed without some of its lines.
const (
	StatusSuccess = "success"
	StatusFailed  = "failed"
	// StatusPartial: the Quote is in Salesforce but some lines or
	// Opportunity products are not; BillingSyncError__c lists them.
	StatusPartial = "partial"
	ReasonPartial = "partial"
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
	// Mapping is the quote mapping (mapping.Mapping.Quote of the mapping
	// file); nil means mapping.DefaultQuote(), and what it leaves out is
	// the default's (mapping.QuoteMapping.WithDefaults).
	Mapping *mapping.QuoteMapping
	Logger  *slog.Logger
	Clock   func() time.Time
}

// Syncer applies quote changes from billing to Salesforce; it implements
// engine.QuoteSyncer. It is safe for concurrent use by changes of
// different quotes.
type Syncer struct {
	cfg   Config
	m     *mapping.QuoteMapping
	obj   mapping.QuoteObjects // m.Objects
	log   *slog.Logger
	cache *cache
}

// New checks cfg and returns a Syncer. It makes no calls; Warm does.
func New(cfg Config) (*Syncer, error) {
	if cfg.CRM == nil || cfg.State == nil || cfg.Billing == nil {
		return nil, errors.New("quotesync: CRM, State and Billing are required")
	}
	cfg.Mapping = cfg.Mapping.WithDefaults()
	if err := cfg.Mapping.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Syncer{cfg: cfg, m: cfg.Mapping, obj: cfg.Mapping.Objects, log: cfg.Logger, cache: newCache()}, nil
}

func (s *Syncer) now() time.Time { return s.cfg.Clock().UTC() }

// settings are the quote settings (A3) as one attempt sees them.
type settings struct {
	allowed     []string
	autoCreate  bool
	stages      map[string]string
	pricebook   string
	disableOpp  bool
	placeholder string
}

func readSettings(s billsync.Settings) settings {
	return settings{
		allowed:     s.Strings(billsync.KeyQuotesAllowedStatuses),
		autoCreate:  s.Bool(billsync.KeyQuotesAutoCreateOpportunity),
		stages:      s.Map(billsync.KeyQuotesStageMapping),
		pricebook:   s.String(billsync.KeyQuotesPricebook),
		disableOpp:  s.Bool(billsync.KeyQuotesDisableOppProductSync),
		placeholder: strings.TrimSpace(s.String(billsync.KeyQuotesRenewalPlaceholder)),
	}
}

// state is the quote's sync state, nil when it was never synced.
func (s *Syncer) state(ctx context.Context, billingID string) (*billsync.SyncState, error) {
	st, err := s.cfg.State.SyncState(ctx, billsync.ObjectQuote, billingID)
	if billsync.ErrorCode(err) == billsync.ENOTFOUND {
		return nil, nil
	}
	return st, err
}

var sfIDPattern = regexp.MustCompile(`^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$`)

// isSFID reports whether id can be a Salesforce record id; anything else
// would make a query fail rather than find nothing.
func isSFID(id string) bool { return sfIDPattern.MatchString(id) }

// sameSFID compares Salesforce ids, 15- or 18-character.
func sameSFID(a, b string) bool {
	if len(a) >= 15 && len(b) >= 15 {
		return a[:15] == b[:15]
	}
	return a == b
}

func decodeEntity(b json.RawMessage) (billsync.Entity, error) {
	if len(b) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "change has no payload")
	}
	return billsync.DecodeEntity(b)
}
