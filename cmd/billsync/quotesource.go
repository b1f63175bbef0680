package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/binding"
	"github.com/billsync/billsync/config"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/runner"
)

// billing.quotes: a second platform (MonetizeNow) as the source of quotes
// while billing.platform (m3ter, or the contract) keeps accounts, balances
// and transactions. The engine sees one Billing that sends quotes to the
// quote source and everything else to the billing platform; the quote
// rules read a quote's account from the quote source, where the quote's
// accountId lives; the quote source's webhooks have a route of their own
// and its poll a checkpoint of its own.

// Where the quote source's poll keeps how far it has read, and the lease
// that makes it a singleton across replicas (the billing platform's poll
// has runner.MetaPollCheckpoint and "billing-poll").
const (
	metaQuotesPollCheckpoint = "billing.quotes.poll_checkpoint"
	quotesPollLease          = "quotes-poll"
	// metaQuotesTenant binds the store to the quote source's tenant as
	// billsync.MetaBillingTenant binds it to the billing platform's.
	metaQuotesTenant = "binding.quotes_tenant"
)

// quoteSource is billing.quotes opened; with no quote source configured,
// every method passes the billing platform through unchanged.
type quoteSource struct {
	cfg     config.BillingConfig
	billing *billsync.BillingAdapter // billing.platform
	quotes  *billsync.BillingAdapter // billing.quotes.platform; nil: none
}

// openQuoteSource opens billing.quotes beside the billing platform's
// adapter.
func openQuoteSource(cfg config.BillingConfig, billing *billsync.BillingAdapter) (*quoteSource, error) {
	qs := &quoteSource{cfg: cfg, billing: billing}
	if !cfg.Quotes.Combined() {
		return qs, nil
	}
	q := cfg.Quotes
	a, err := billsync.OpenBillingPlatform(q.Platform, billsync.BillingOptions{URL: q.URL, Token: q.Token,
		WebhookSecret: q.WebhookSecret, Options: q.Options})
	if err != nil {
		return nil, fmt.Errorf("quote source: %s", inSection("billing.quotes", billsync.ErrorMessage(err)))
	}
	qs.quotes = a
	return qs, nil
}

// bind ties the store to the quote source's tenant, as binding.Bind does
// to the billing platform's: a store that synced a test MonetizeNow's
// quotes refuses production's (and the other way round) without rebind.
func (qs *quoteSource) bind(ctx context.Context, store billsync.MetaStore, sf binding.CRM, rebind bool, log *slog.Logger) error {
	if qs.quotes == nil {
		return nil
	}
	meta := renamedMeta{MetaStore: store, from: billsync.MetaBillingTenant, to: metaQuotesTenant}
	if err := binding.Bind(ctx, meta, sf, qs.quotes.Billing, rebind, log); err != nil {
		return fmt.Errorf("quote source (billing.quotes): %w", err)
	}
	return nil
}

// check is the quote source's connection check for the console's
// overview; nil without a quote source.
func (qs *quoteSource) check() func(ctx context.Context) error {
	if qs.quotes == nil {
		return nil
	}
	return func(ctx context.Context) error { _, err := qs.quotes.Billing.Tenant(ctx); return err }
}

// forEngine is the Billing the engine syncs with.
func (qs *quoteSource) forEngine() billsync.Billing {
	if qs.quotes == nil {
		return qs.billing.Billing
	}
	c := &combinedBilling{Billing: qs.billing.Billing, quotes: qs.quotes.Billing}
	if sc, ok := qs.billing.Billing.(billsync.TransactionScanner); ok {
		return &combinedScanner{combinedBilling: c, scan: sc}
	}
	return c
}

// forQuotes is the Billing the quote rules read: the quote source, whose
// accounts are found in Salesforce by billing.quotes.accountLink.
func (qs *quoteSource) forQuotes() billsync.Billing {
	if qs.quotes == nil {
		return qs.billing.Billing
	}
	return &quoteAccounts{Billing: qs.quotes.Billing, accounts: qs.billing.Billing, link: qs.cfg.Quotes.Link(),
		platform: qs.cfg.Platform}
}

// webhooks decodes the billing platform's webhooks; beside a quote
// source, a quote event of the billing platform (the contract's) is
// acknowledged and dropped with a warning, so that quotes have one source.
func (qs *quoteSource) webhooks(log *slog.Logger) billsync.BillingWebhooks {
	if qs.quotes == nil {
		return qs.billing.Webhooks
	}
	return noQuoteWebhooks{BillingWebhooks: qs.billing.Webhooks, platform: qs.cfg.Platform, log: log}
}

// route is the quote source's webhook route; nil without one.
func (qs *quoteSource) route() *httpserver.WebhookRoute {
	if qs.quotes == nil {
		return nil
	}
	return &httpserver.WebhookRoute{Path: qs.cfg.Quotes.WebhookPath(), Token: qs.cfg.Quotes.WebhookToken(), Webhooks: qs.quotes.Webhooks}
}

// launch starts the quote source's poll, with its own checkpoint and lease.
func (qs *quoteSource) launch(ctx context.Context, a *App, wake *runner.Signal) {
	if qs.quotes == nil {
		return
	}
	src, ok := qs.quotes.Billing.(billsync.BillingPoller)
	if !ok {
		return
	}
	interval := qs.cfg.Quotes.PollInterval
	if interval <= 0 {
		interval = qs.cfg.PollInterval
	}
	p := runner.NewPoller(runner.PollerConfig{Source: src, Queue: a.store, OnEnqueue: wake.Wake, Interval: interval,
		Meta:   renamedMeta{MetaStore: a.store, from: runner.MetaPollCheckpoint, to: metaQuotesPollCheckpoint},
		Leases: renamedLease{LeaseStore: a.store, from: "billing-poll", to: quotesPollLease}, Owner: replicaName(),
		Logger: a.log.With("source", "billing.quotes")})
	a.goRun("quote source poll", func() error { return p.Run(ctx) })
}

// combinedBilling sends quotes to the quote source and every other
// object to the billing platform.
type combinedBilling struct {
	billsync.Billing
	quotes billsync.Billing
}

func (c *combinedBilling) pick(t billsync.ObjectType) billsync.Billing {
	if t == billsync.ObjectQuote {
		return c.quotes
	}
	return c.Billing
}

// Capabilities are the billing platform's, with the quote source's for
// quotes: its quotes carry offerings, and its webhooks are hints only,
// so the engine reads what a webhook names before acting on it (for the
// billing platform's records too: a read more, never a risk).
func (c *combinedBilling) Capabilities() billsync.BillingCapabilities {
	caps, qc := c.Billing.Capabilities(), c.quotes.Capabilities()
	caps.QuotesCarryOfferings = qc.QuotesCarryOfferings
	caps.SignedWebhooks = caps.SignedWebhooks && qc.SignedWebhooks
	return caps
}

func (c *combinedBilling) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	return c.pick(t).Get(ctx, t, id)
}

func (c *combinedBilling) List(ctx context.Context, t billsync.ObjectType, cursor string, limit int) ([]billsync.Entity, string, error) {
	return c.pick(t).List(ctx, t, cursor, limit)
}

func (c *combinedBilling) Create(ctx context.Context, t billsync.ObjectType, e billsync.Entity, key string) (billsync.Entity, error) {
	return c.pick(t).Create(ctx, t, e, key)
}

func (c *combinedBilling) Update(ctx context.Context, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	return c.pick(t).Update(ctx, t, e)
}

func (c *combinedBilling) Delete(ctx context.Context, t billsync.ObjectType, id string) error {
	return c.pick(t).Delete(ctx, t, id)
}

// combinedScanner is combinedBilling over a billing platform whose new
// transactions show only as balance changes (m3ter).
type combinedScanner struct {
	*combinedBilling
	scan billsync.TransactionScanner
}

func (c *combinedScanner) RecentTransactions(ctx context.Context, balanceID, cursor string, limit int) ([]billsync.Entity, string, error) {
	return c.scan.RecentTransactions(ctx, balanceID, cursor, limit)
}

// accountFinder is a billing platform that finds an account by its code
// with one call (m3ter); others are paged through.
type accountFinder interface {
	AccountByCode(ctx context.Context, code string) (billsync.Entity, error)
}

// quoteAccounts is the quote source as the quote rules read it. A
// quote's accountId is the quote source's account; its Salesforce
// Account is found by billing.quotes.accountLink: salesforceId (the quote
// source's account carries it: MonetizeNow's customId) or code (that
// customId is the code of a billing.platform account, whose crmAccountId
// is the Salesforce Account).
type quoteAccounts struct {
	billsync.Billing
	accounts billsync.Billing
	link     string
	platform string
}

func (q *quoteAccounts) Get(ctx context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	e, err := q.Billing.Get(ctx, t, id)
	if err != nil || t != billsync.ObjectAccount || q.link != config.AccountLinkCode {
		return e, err
	}
	code := e.Str("customId")
	if code == "" {
		return nil, billsync.Errorf(billsync.EINVALID,
			"quote source account %s has no customId; with billing.quotes.accountLink code it must be the code of a billing.platform %s account", id, q.platform)
	}
	acc, err := q.byCode(ctx, code)
	switch {
	case billsync.ErrorCode(err) == billsync.ENOTFOUND:
		return nil, billsync.Errorf(billsync.EINVALID,
			"quote source account %s: no billing.platform %s account has code %q (its customId; billing.quotes.accountLink code)", id, q.platform, code)
	case err != nil:
		return nil, err
	}
	out := e.Clone()
	out["crmAccountId"] = acc.Str("crmAccountId")
	out["billingAccountId"] = acc.ID()
	return out, nil
}

func (q *quoteAccounts) byCode(ctx context.Context, code string) (billsync.Entity, error) {
	if f, ok := q.accounts.(accountFinder); ok {
		return f.AccountByCode(ctx, code)
	}
	cursor := ""
	for {
		page, next, err := q.accounts.List(ctx, billsync.ObjectAccount, cursor, 100)
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			if a.Str("code") == code {
				return a, nil
			}
		}
		if next == "" {
			return nil, billsync.Errorf(billsync.ENOTFOUND, "no account has code %q", code)
		}
		cursor = next
	}
}

// noQuoteWebhooks drops the billing platform's quote events when
// billing.quotes names the quote source: quotes have one source. They are
// answered 200 (the platform is not asked to send them again) and each
// is logged as a warning naming the setting.
type noQuoteWebhooks struct {
	billsync.BillingWebhooks
	platform string
	log      *slog.Logger
}

func (w noQuoteWebhooks) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	changes, err := w.BillingWebhooks.Decode(webhookID, body, now)
	if err != nil {
		return nil, err
	}
	kept := changes[:0:0]
	for _, c := range changes {
		if c.Object != billsync.ObjectQuote {
			kept = append(kept, c)
			continue
		}
		w.log.Warn("a quote from billing.platform is not synced: billing.quotes.platform is the quote source",
			"platform", w.platform, "quote", c.RecordID, "event", c.EventID)
	}
	return kept, nil
}

// renamedMeta and renamedLease give the quote source's poll a checkpoint
// and a lease of its own, under the names the billing platform's poll uses.
type renamedMeta struct {
	billsync.MetaStore
	from, to string
}

func (m renamedMeta) key(k string) string { return renamed(k, m.from, m.to) }

// renamed is name, or to when name is from.
func renamed(name, from, to string) string {
	if name == from {
		return to
	}
	return name
}

func (m renamedMeta) Meta(ctx context.Context, key string) (string, bool, error) {
	return m.MetaStore.Meta(ctx, m.key(key))
}

func (m renamedMeta) SetMeta(ctx context.Context, key, value string) error {
	return m.MetaStore.SetMeta(ctx, m.key(key), value)
}

type renamedLease struct {
	billsync.LeaseStore
	from, to string
}

func (l renamedLease) name(n string) string { return renamed(n, l.from, l.to) }

func (l renamedLease) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	return l.LeaseStore.TryLease(ctx, l.name(name), owner, ttl)
}

func (l renamedLease) ReleaseLease(ctx context.Context, name, owner string) error {
	return l.LeaseStore.ReleaseLease(ctx, l.name(name), owner)
}
