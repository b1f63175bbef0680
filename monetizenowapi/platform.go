package monetizenowapi

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"golang.org/x/time/rate"
)

// MonetizeNow is billing.platform "monetizenow".
func init() {
	billsync.RegisterBillingPlatform(billsync.BillingPlatform{Name: billsync.PlatformMonetizeNow, Open: Open})
}

// DefaultURL is MonetizeNow's API.
const DefaultURL = "https://api.monetizeplatform.com"

// optionNames are the billing.options MonetizeNow knows.
var optionNames = []string{"rateLimit"}

// Open builds MonetizeNow's adapter from the config's billing section.
// billing.webhookSecret is not used here: MonetizeNow signs no webhook,
// so the secret is the last segment of the webhook URL, which the HTTP
// server checks, and a delivery is only a hint.
func Open(o billsync.BillingOptions) (*billsync.BillingAdapter, error) {
	c, err := NewClient(o)
	if err != nil {
		return nil, err
	}
	return &billsync.BillingAdapter{Billing: c, Webhooks: NewWebhooks()}, nil
}

// NewClient builds the client from billing.url (default MonetizeNow's
// API), billing.token (an API key from Settings → API Keys) and
// billing.options.
func NewClient(o billsync.BillingOptions) (*Client, error) {
	key := strings.TrimSpace(o.Token)
	if key == "" || strings.ContainsAny(key, " \t\r\n") {
		return nil, billsync.Errorf(billsync.EINVALID, "billing.token: want a MonetizeNow API key (Settings → API Keys)")
	}
	for name := range o.Options {
		if !slices.Contains(optionNames, name) {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.%s: unknown option for MonetizeNow (known: %s)", name, strings.Join(optionNames, ", "))
		}
	}
	perSecond := 10.0
	if s, ok := o.Options["rateLimit"]; ok {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || n <= 0 || n > 10000 {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.rateLimit %q: want requests per second, a number above 0", s)
		}
		perSecond = n
	}
	base := strings.TrimRight(strings.TrimSpace(o.URL), "/")
	if base == "" {
		base = DefaultURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "billing.url %q: want MonetizeNow's API base URL, e.g. %s", o.URL, DefaultURL)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	clock := o.Clock
	if clock == nil {
		clock = time.Now
	}
	return &Client{base: base, key: key, hc: hc, clock: clock,
		pace: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond))), sleep: sleepCtx}, nil
}

// Capabilities are MonetizeNow's: no optimistic-lock field on a quote
// (billsync compares content), quotes that carry their offerings, and
// webhooks that are only hints (no signature is documented), so the
// engine reads a quote again before it acts on a webhook naming it.
// Balances and transactions are not MonetizeNow's to sync here.
var Capabilities = billsync.BillingCapabilities{
	Platform:             billsync.PlatformMonetizeNow,
	Versioning:           billsync.VersionNone,
	QuotesCarryOfferings: true,
	SignedWebhooks:       false,
	TransactionEvents:    true, // no balance transactions to scan for
}

var (
	_ billsync.Billing       = (*Client)(nil)
	_ billsync.BillingPoller = (*Client)(nil)
)

// Capabilities of MonetizeNow.
func (c *Client) Capabilities() billsync.BillingCapabilities { return Capabilities }

// Tenant is what the API key reaches. MonetizeNow names no tenant to an
// API key in any public source, so this checks the key with the
// cheapest read (one quote) and names the API it reached.
func (c *Client) Tenant(ctx context.Context) (string, error) {
	var p page[quote]
	if err := c.get(ctx, "/api/quotes", pageQuery(0, 1), &p); err != nil {
		return "", err
	}
	return c.base, nil
}
