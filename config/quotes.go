package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// QuotesConfig is billing.quotes: a second platform that is the source of
// quotes while billing.platform keeps accounts, balances and transactions
// (m3ter for balances, MonetizeNow for quotes). Empty platform: quotes
// come from billing.platform, as before the setting.
type QuotesConfig struct {
	// Platform is the quote source: "" (billing.platform's own quotes) or
	// monetizenow.
	Platform string `yaml:"platform"`
	URL      string `yaml:"url"`   // "" is the platform's API
	Token    string `yaml:"token"` // MonetizeNow: an API key
	// WebhookSecret is the last segment of the quote source's webhook URL
	// (<billsync>/webhooks/monetizenow/<token>): MonetizeNow signs nothing.
	WebhookSecret string `yaml:"webhookSecret"`
	// TokenFile and WebhookSecretFile name files holding the secrets.
	TokenFile         string `yaml:"tokenFile"`
	WebhookSecretFile string `yaml:"webhookSecretFile"`
	// Options are the quote platform's own settings (MonetizeNow:
	// rateLimit).
	Options map[string]string `yaml:"options"`
	// AccountLink is how a quote's account finds its Salesforce Account:
	// salesforceId (the default: the quote platform's account carries the
	// Salesforce Account id; MonetizeNow: its customId) or code (it
	// carries the code of the billing.platform account, whose linked
	// Salesforce Account is taken).
	AccountLink string `yaml:"accountLink"`
	// PollInterval is how often the quote source is asked for what its
	// webhooks missed; 0 is billing.pollInterval.
	PollInterval time.Duration `yaml:"pollInterval"`
}

// The values of billing.quotes.accountLink.
const (
	AccountLinkSalesforceID = "salesforceId"
	AccountLinkCode         = "code"
)

// Combined reports whether a second platform is the quote source.
func (q QuotesConfig) Combined() bool { return strings.TrimSpace(q.Platform) != "" }

// WebhookPath is where the quote source's webhooks arrive, followed by
// the token (WebhookToken); "" when there is no separate quote source.
func (q QuotesConfig) WebhookPath() string {
	if q.Platform == billsync.PlatformMonetizeNow {
		return "/webhooks/monetizenow"
	}
	return ""
}

// WebhookToken is the secret last segment of the quote source's webhook URL.
func (q QuotesConfig) WebhookToken() string { return strings.TrimSpace(q.WebhookSecret) }

// Link is billing.quotes.accountLink with its default.
func (q QuotesConfig) Link() string {
	if q.AccountLink == "" {
		return AccountLinkSalesforceID
	}
	return q.AccountLink
}

// applyQuotesEnv overlays the BILLSYNC_BILLING_QUOTES_* variables.
func applyQuotesEnv(q *QuotesConfig, getenv func(string) string) {
	for _, v := range []struct {
		dst *string
		key string
	}{
		{&q.Platform, "BILLSYNC_BILLING_QUOTES_PLATFORM"},
		{&q.URL, "BILLSYNC_BILLING_QUOTES_URL"},
		{&q.Token, "BILLSYNC_BILLING_QUOTES_TOKEN"},
		{&q.WebhookSecret, "BILLSYNC_BILLING_QUOTES_WEBHOOK_SECRET"},
		{&q.AccountLink, "BILLSYNC_BILLING_QUOTES_ACCOUNT_LINK"},
	} {
		if s := getenv(v.key); s != "" {
			*v.dst = s
		}
	}
	parsed(&q.PollInterval, getenv("BILLSYNC_BILLING_QUOTES_POLL_INTERVAL"), time.ParseDuration)
}

// validateQuotes checks billing.quotes against billing.platform: a quote
// source beside a platform that is one already, or beside itself, is
// refused by name, as is a missing credential.
func (c Config) validateQuotes() error {
	q := c.Billing.Quotes
	if !q.Combined() {
		if q.Token != "" || q.WebhookSecret != "" || q.URL != "" || len(q.Options) > 0 || q.AccountLink != "" {
			return fmt.Errorf("config: billing.quotes is set without billing.quotes.platform; set billing.quotes.platform: monetizenow, or remove billing.quotes")
		}
		return nil
	}
	if q.Platform != billsync.PlatformMonetizeNow {
		return fmt.Errorf("config: billing.quotes.platform %q: want monetizenow (the only separate quote source), or leave it empty for billing.platform's own quotes", q.Platform)
	}
	switch p := c.Billing.Platform; p {
	case billsync.PlatformMonetizeNow:
		return fmt.Errorf("config: billing.platform and billing.quotes.platform are both monetizenow; for MonetizeNow alone, set billing.platform: monetizenow and remove billing.quotes")
	case billsync.PlatformStripe:
		return fmt.Errorf("config: two quote sources: billing.platform stripe syncs Stripe's quotes and billing.quotes.platform is monetizenow; combine MonetizeNow with billing.platform m3ter or contract, or use one of them alone")
	}
	switch q.Link() {
	case AccountLinkSalesforceID, AccountLinkCode:
	default:
		return fmt.Errorf("config: billing.quotes.accountLink %q: want salesforceId or code", q.AccountLink)
	}
	var missing []string
	if strings.TrimSpace(q.Token) == "" {
		missing = append(missing, "billing.quotes.token (a MonetizeNow API key, Settings → API Keys)")
	}
	switch tok := q.WebhookToken(); {
	case tok == "":
		missing = append(missing, "billing.quotes.webhookSecret (a random token of at least 16 characters, the last segment of the webhook URL you enter in MonetizeNow's Settings → Webhooks: <billsync>/webhooks/monetizenow/<token>)")
	case len(tok) < 16:
		return fmt.Errorf("config: billing.quotes.webhookSecret: MonetizeNow's webhook URL token must be at least 16 characters, so nobody can guess it")
	case tok == c.Billing.WebhookToken():
		return fmt.Errorf("config: billing.quotes.webhookSecret is the same as billing.webhookSecret; give each platform its own webhook URL token")
	}
	if len(missing) > 0 {
		return fmt.Errorf("config: missing %s", strings.Join(missing, ", "))
	}
	if q.PollInterval < 0 {
		return fmt.Errorf("config: billing.quotes.pollInterval must not be negative")
	}
	return nil
}
