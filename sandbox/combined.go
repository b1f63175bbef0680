package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/billsync/billsync"
)

// QuotesAppConfig is billing.quotes for billsync against the sandbox: the
// quote source's emulator beside the billing platform's.
type QuotesAppConfig struct {
	Platform, URL, Token, WebhookSecret string
	AccountLink                         string // billing.quotes.accountLink
}

// The sandbox's MonetizeNow accounts beside m3ter name their m3ter
// account by code (billing.quotes.accountLink code), and the seeded m3ter
// accounts link the demo Salesforce Accounts of the same names.
var combinedCodes = map[string]string{"Acme Corporation": "ACME", "Globex": "GLOBEX", "Initech": "INITECH"}

// quotesBeside reports whether a second platform is the quote source.
func (s *Sandbox) quotesBeside() bool { return s.opts.Quotes != "" }

// startQuotes starts the quote source's emulator on a listener of its own
// (Options.QuotesAddr), delivering its webhooks to billsync's
// /webhooks/monetizenow/<token>.
func (s *Sandbox) startQuotes(ctx context.Context, appAddr string) error {
	switch s.opts.Quotes {
	case "":
		return nil
	case billsync.PlatformMonetizeNow:
	default:
		return fmt.Errorf("sandbox: quotes %q: want monetizenow (or none)", s.opts.Quotes)
	}
	switch s.opts.Billing {
	case "", billsync.PlatformContract, billsync.PlatformM3ter:
	default:
		return fmt.Errorf("sandbox: quotes monetizenow goes beside billing m3ter or contract, not %s", s.opts.Billing)
	}
	addr := s.opts.QuotesAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("quote source emulator: %w", err)
	}
	s.QuotesURL = "http://" + ln.Addr().String()
	token, inj, err := s.runMonetizeNow(ctx, ln, appAddr, "")
	if err != nil {
		return err
	}
	s.QuotesFaults = inj
	s.quotesSecret = token
	return nil
}

// quotesAppConfig adds billing.quotes to ac when a quote source runs.
func (s *Sandbox) quotesAppConfig(ac *AppConfig) {
	if !s.quotesBeside() {
		return
	}
	ac.Quotes = QuotesAppConfig{Platform: s.opts.Quotes, URL: s.QuotesURL, Token: MonetizeNowKey,
		WebhookSecret: s.quotesSecret, AccountLink: "code"}
}

// seedCombined seeds the billing platform with its accounts, linked to
// the demo Salesforce Accounts, then MonetizeNow's accounts naming them by
// code and its demo quotes.
func (s *Sandbox) seedCombined(ctx context.Context) error {
	seed := s.seed
	if s.M3ter != nil {
		seed = s.seedM3ter
	}
	if err := seed(ctx); err != nil {
		return err
	}
	return s.seedMonetizeNow(ctx)
}

// monetizeNowCustomID is the customId of the seeded MonetizeNow account for
// the demo Account name: the Salesforce Account's id, or beside another
// platform the code of that platform's account.
func (s *Sandbox) monetizeNowCustomID(name string) string {
	if s.quotesBeside() {
		return combinedCodes[name]
	}
	return s.Demo.Accounts[name]
}

// crmAccountFor is the Salesforce Account a seeded billing account of code
// links beside a quote source ("" otherwise: the plain sandboxes leave
// the link to the user).
func (s *Sandbox) crmAccountFor(code string) string {
	if !s.quotesBeside() {
		return ""
	}
	for name, c := range combinedCodes {
		if c == code {
			return s.Demo.Accounts[name]
		}
	}
	return ""
}

// writeQuotesBanner adds the quote source to the sandbox's banner.
func (s *Sandbox) writeQuotesBanner(w io.Writer) error {
	if !s.quotesBeside() {
		return nil
	}
	_, err := fmt.Fprintf(w, `
quote source: MonetizeNow emulator   %s
  API key                            %s
  webhook URL                        %s/webhooks/monetizenow/<token in %s/monetizenow-webhook-token>
  accounts link by code              a MonetizeNow account's customId is the billing account's code
  try: curl -s -H 'x-api-key: %s' %s/api/quotes
`, s.QuotesURL, MonetizeNowKey, s.AppURL(), s.opts.Data, MonetizeNowKey, s.QuotesURL)
	return err
}
