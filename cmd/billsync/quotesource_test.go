package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

type memMeta map[string]string

func (m memMeta) Meta(_ context.Context, k string) (string, bool, error) {
	v, ok := m[k]
	return v, ok, nil
}

func (m memMeta) SetMeta(_ context.Context, k, v string) error { m[k] = v; return nil }

type fixedOrg string

func (o fixedOrg) Identity(context.Context) (string, string, error) { return "005user", string(o), nil }

// tenantOnly is a quote source that answers Tenant only.
type tenantOnly struct {
	billsync.Billing
	url string
}

func (b tenantOnly) Tenant(context.Context) (string, error) { return b.url, nil }

// The store is bound to the quote source's tenant under a key of its own:
// the billing platform's binding is left alone, and another MonetizeNow
// is refused unless rebind.
func TestQuoteSourceTenantBinding(t *testing.T) {
	source := func(url string) *quoteSource {
		return &quoteSource{quotes: &billsync.BillingAdapter{Billing: tenantOnly{url: url}}}
	}
	ctx, log, org := context.Background(), slog.New(slog.DiscardHandler), fixedOrg("00Dorg")
	meta := memMeta{billsync.MetaBillingTenant: "m3ter-org", billsync.MetaSalesforceOrg: "00Dorg"}
	if err := source("https://test.monetize.example").bind(ctx, meta, org, false, log); err != nil {
		t.Fatal(err)
	}
	if meta[metaQuotesTenant] != "https://test.monetize.example" || meta[billsync.MetaBillingTenant] != "m3ter-org" {
		t.Fatalf("meta after binding: %v", meta)
	}
	err := source("https://api.monetize.example").bind(ctx, meta, org, false, log)
	if err == nil || !strings.Contains(err.Error(), "billing.quotes") || !strings.Contains(err.Error(), "--rebind") {
		t.Fatalf("another MonetizeNow: %v", err)
	}
	if err := source("https://api.monetize.example").bind(ctx, meta, org, true, log); err != nil || meta[metaQuotesTenant] != "https://api.monetize.example" {
		t.Fatalf("rebind: %v %v", err, meta)
	}
	if err := (&quoteSource{}).bind(ctx, meta, org, false, log); err != nil {
		t.Fatalf("without a quote source: %v", err)
	}
}

// capsOnly is a platform that answers Capabilities and Get only.
type capsOnly struct {
	billsync.Billing
	caps billsync.BillingCapabilities
	name string
}

func (b capsOnly) Capabilities() billsync.BillingCapabilities { return b.caps }

func (b capsOnly) Get(_ context.Context, t billsync.ObjectType, id string) (billsync.Entity, error) {
	return billsync.Entity{"id": id, "from": b.name}, nil
}

// The engine's Billing beside a quote source: quotes from the quote
// source, the rest from the billing platform; its quotes' offerings and
// its unsigned webhooks in the capabilities (so every webhook is re-read),
// the billing platform's versions and balance rules.
func TestCombinedBillingRoutesQuotes(t *testing.T) {
	contract := capsOnly{name: "contract", caps: billsync.BillingCapabilities{Platform: billsync.PlatformContract, Versioning: billsync.VersionInteger,
		SignedWebhooks: true, BalanceAmountWritable: true, TransactionEvents: true}}
	mn := capsOnly{name: "monetizenow", caps: billsync.BillingCapabilities{Platform: billsync.PlatformMonetizeNow, Versioning: billsync.VersionNone,
		QuotesCarryOfferings: true}}
	qs := &quoteSource{billing: &billsync.BillingAdapter{Billing: contract}, quotes: &billsync.BillingAdapter{Billing: mn}}
	b := qs.forEngine()
	if _, ok := b.(billsync.TransactionScanner); ok {
		t.Error("a transaction scanner over a platform that is none")
	}
	caps := b.Capabilities()
	if caps.Versioning != billsync.VersionInteger || !caps.BalanceAmountWritable || !caps.QuotesCarryOfferings || caps.SignedWebhooks {
		t.Errorf("capabilities %+v", caps)
	}
	for typ, want := range map[billsync.ObjectType]string{billsync.ObjectQuote: "monetizenow", billsync.ObjectAccount: "contract",
		billsync.ObjectBalance: "contract", billsync.ObjectBalanceTransaction: "contract"} {
		if e, _ := b.Get(context.Background(), typ, "x"); e.Str("from") != want {
			t.Errorf("Get %s from %s, want %s", typ, e.Str("from"), want)
		}
	}
}
