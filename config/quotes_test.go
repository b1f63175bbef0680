package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	_ "github.com/billsync/billsync/m3terapi" // registers the platforms, for Validate
	_ "github.com/billsync/billsync/monetizenowapi"
	_ "github.com/billsync/billsync/stripeapi"
)

// billing.quotes: MonetizeNow as the quote source beside m3ter or the
// contract; impossible combinations and missing credentials are refused
// by the settings' names; its secrets come from files or the environment
// like the others.
func TestQuoteSourceConfig(t *testing.T) {
	valid := func() Config {
		cfg := DefaultConfig()
		cfg.Salesforce.ClientID, cfg.Salesforce.ClientSecret = "cid", "secret"
		cfg.Salesforce.Username, cfg.Salesforce.Password = "u", "p"
		cfg.Billing.Platform, cfg.Billing.Token, cfg.Billing.WebhookSecret = billsync.PlatformM3ter, "key:secret", "m3ter-token-0123456789"
		cfg.Billing.Quotes = QuotesConfig{Platform: billsync.PlatformMonetizeNow, Token: "mn-key", WebhookSecret: "monetizenow-token-0123"}
		cfg.AdminTokens = map[string]string{"ops": "admin-token"}
		return cfg
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("m3ter with MonetizeNow quotes: %v", err)
	}
	if q := valid().Billing.Quotes; q.Link() != AccountLinkSalesforceID || q.WebhookPath() != "/webhooks/monetizenow" {
		t.Errorf("defaults: link %q, path %q", q.Link(), q.WebhookPath())
	}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want []string
	}{
		"monetizenow twice":   {func(c *Config) { c.Billing.Platform = billsync.PlatformMonetizeNow }, []string{"billing.platform", "billing.quotes.platform", "both monetizenow"}},
		"stripe's quotes too": {func(c *Config) { c.Billing.Platform = billsync.PlatformStripe }, []string{"two quote sources", "billing.platform stripe"}},
		"unknown source":      {func(c *Config) { c.Billing.Quotes.Platform = "stripe" }, []string{"billing.quotes.platform", "monetizenow"}},
		"no key":              {func(c *Config) { c.Billing.Quotes.Token = "" }, []string{"billing.quotes.token"}},
		"no URL token":        {func(c *Config) { c.Billing.Quotes.WebhookSecret = "" }, []string{"billing.quotes.webhookSecret"}},
		"short URL token":     {func(c *Config) { c.Billing.Quotes.WebhookSecret = "short" }, []string{"billing.quotes.webhookSecret", "16"}},
		"shared URL token":    {func(c *Config) { c.Billing.Quotes.WebhookSecret = c.Billing.WebhookSecret }, []string{"same as billing.webhookSecret"}},
		"bad link":            {func(c *Config) { c.Billing.Quotes.AccountLink = "email" }, []string{"billing.quotes.accountLink", "salesforceId or code"}},
		"settings, no source": {func(c *Config) { c.Billing.Quotes.Platform = "" }, []string{"billing.quotes.platform"}},
	} {
		c := valid()
		tc.edit(&c)
		err := c.Validate()
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want an error naming %q", name, err, w)
			}
		}
	}

	// The environment and …File secrets.
	dir := t.TempDir()
	key := filepath.Join(dir, "mn-key")
	if err := os.WriteFile(key, []byte("from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := valid()
	cfg.Billing.Quotes.Token = ""
	env := map[string]string{"BILLSYNC_BILLING_QUOTES_TOKEN_FILE": key, "BILLSYNC_BILLING_QUOTES_ACCOUNT_LINK": "code",
		"BILLSYNC_BILLING_QUOTES_POLL_INTERVAL": "30s", "BILLSYNC_BILLING_QUOTES_WEBHOOK_SECRET": "from-the-environment-123"}
	getenv := func(k string) string { return env[k] }
	ApplyEnv(&cfg, getenv)
	if err := ReadSecrets(&cfg, getenv); err != nil {
		t.Fatal(err)
	}
	q := cfg.Billing.Quotes
	if q.Token != "from-a-file" || q.Link() != AccountLinkCode || q.PollInterval.String() != "30s" || q.WebhookToken() != "from-the-environment-123" {
		t.Errorf("from the environment: %+v", q)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
	cfg.Billing.Quotes.TokenFile, cfg.Billing.Quotes.Token = key, "also-inline"
	if err := ReadSecrets(&cfg, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "billing.quotes.tokenFile") {
		t.Errorf("token and tokenFile both set: %v", err)
	}
}
