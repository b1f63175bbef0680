package sandbox

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

// --quotes monetizenow runs MonetizeNow beside m3ter or the contract, on a
// listener of its own, and names it in the banner; beside Stripe, or as
// an unknown platform, the sandbox refuses to start and says why.
func TestQuoteSourceBesideBilling(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	start := func(billing, quotes string) (*Sandbox, error) {
		return Start(context.Background(), Options{NoApp: true, Billing: billing, Quotes: quotes, Data: t.TempDir(),
			Addr: "127.0.0.1:0", SalesforceAddr: "127.0.0.1:0", BillingAddr: "127.0.0.1:0"}, log)
	}
	s, err := start(billsync.PlatformM3ter, billsync.PlatformMonetizeNow)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ac := s.AppConfig("127.0.0.1:1")
	if s.M3ter == nil || s.MonetizeNow == nil || s.QuotesURL == "" || s.QuotesURL == s.BillingURL {
		t.Fatalf("emulators: m3ter %v, MonetizeNow %v at %q (billing at %q)", s.M3ter != nil, s.MonetizeNow != nil, s.QuotesURL, s.BillingURL)
	}
	if ac.BillingPlatform != billsync.PlatformM3ter || ac.Quotes.Platform != billsync.PlatformMonetizeNow || ac.Quotes.URL != s.QuotesURL ||
		ac.Quotes.AccountLink != "code" || len(ac.Quotes.WebhookSecret) < 16 || ac.Quotes.WebhookSecret == ac.WebhookSecret || len(ac.Settings) != 0 {
		t.Errorf("billsync's config: %+v", ac)
	}
	var banner bytes.Buffer
	if err := s.WriteBanner(&banner); err != nil || !strings.Contains(banner.String(), "quote source: MonetizeNow emulator   "+s.QuotesURL) {
		t.Errorf("banner (%v):\n%s", err, banner.String())
	}
	for _, c := range []struct{ billing, quotes, want string }{
		{billsync.PlatformStripe, billsync.PlatformMonetizeNow, "beside billing m3ter or contract"},
		{billsync.PlatformM3ter, billsync.PlatformStripe, "want monetizenow"},
	} {
		if s, err := start(c.billing, c.quotes); err == nil || !strings.Contains(err.Error(), c.want) {
			if s != nil {
				s.Close()
			}
			t.Errorf("billing %s, quotes %s: %v, want %q", c.billing, c.quotes, err, c.want)
		}
	}
}
