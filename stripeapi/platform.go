package stripeapi

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	stripe "github.com/stripe/stripe-go/v85"
	"golang.org/x/time/rate"
)

// Stripe is billing.platform "stripe".
func init() {
	billsync.RegisterBillingPlatform(billsync.BillingPlatform{Name: billsync.PlatformStripe, Open: Open})
}

// DefaultURL is Stripe's API.
const DefaultURL = "https://api.stripe.com"

// APIVersion is the Stripe API version billsync speaks unless
// billing.options.apiVersion says otherwise: stripe-go's pinned one, which
// its webhook code expects events in.
const APIVersion = stripe.APIVersion

// The values of billing.options.quotes.
const (
	quotesDraft     = "draft"     // draft quotes are polled, as Stripe sends no event for their edits
	quotesFinalized = "finalized" // quotes sync from finalisation on
)

// optionNames are the billing.options Stripe knows.
var optionNames = []string{"rateLimit", "quotes", "apiVersion"}

// Open builds Stripe's adapter from the config's billing section.
func Open(o billsync.BillingOptions) (*billsync.BillingAdapter, error) {
	c, err := NewClient(o)
	if err != nil {
		return nil, err
	}
	w, err := NewWebhooks(o.WebhookSecret, o.Clock, c.quotes)
	if err != nil {
		return nil, err
	}
	return &billsync.BillingAdapter{Billing: c, Webhooks: w}, nil
}

// NewClient builds the client alone (setup and doctor need no webhook
// secret): the key must be a secret or restricted key, and every option a
// known one.
func NewClient(o billsync.BillingOptions) (*Client, error) {
	key := strings.TrimSpace(o.Token)
	if !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_") {
		return nil, billsync.Errorf(billsync.EINVALID, `billing.token: want a Stripe secret key ("sk_…") or restricted key ("rk_…")`)
	}
	for name := range o.Options {
		if !slices.Contains(optionNames, name) {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.%s: unknown option for Stripe (known: %s)", name, strings.Join(optionNames, ", "))
		}
	}
	perSecond := 20.0
	if s, ok := o.Options["rateLimit"]; ok {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || n <= 0 || n > 10000 {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.rateLimit %q: want requests per second, a number above 0", s)
		}
		perSecond = n
	}
	quotes := quotesDraft
	if s, ok := o.Options["quotes"]; ok {
		quotes = strings.TrimSpace(s)
		if quotes != quotesDraft && quotes != quotesFinalized {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.quotes %q: want draft or finalized", s)
		}
	}
	version := APIVersion
	if s := strings.TrimSpace(o.Options["apiVersion"]); s != "" {
		version = s
	}
	base := strings.TrimRight(strings.TrimSpace(o.URL), "/")
	if base == "" {
		base = DefaultURL
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	clock := o.Clock
	if clock == nil {
		clock = time.Now
	}
	burst := max(1, int(perSecond))
	return &Client{base: base, key: key, apiVersion: version, quotes: quotes, hc: hc, clock: clock,
		pace: rate.NewLimiter(rate.Limit(perSecond), burst), sleep: sleepCtx}, nil
}

// Capabilities are Stripe's: no versions (billsync compares content),
// a balance set through an adjustment transaction, transactions that
// change only in description and metadata and are never deleted, quotes
// without offerings, signed webhooks, and no events for transactions.
var Capabilities = billsync.BillingCapabilities{
	Platform:                 billsync.PlatformStripe,
	Versioning:               billsync.VersionNone,
	BalanceAmountWritable:    true,
	TransactionsUpdatable:    false,
	TransactionMutableFields: []string{"description", "customFields."},
	TransactionsDeletable:    false,
	QuotesCarryOfferings:     false,
	SignedWebhooks:           true,
	TransactionEvents:        false,
	// What Stripe keeps for itself: a customer's currency is set by its
	// first charge; a balance is synthetic (customer and currency), so
	// its code, name and dates are billsync's own rendering; a balance
	// transaction's date is its creation.
	ReadOnlyFields: map[billsync.ObjectType][]string{
		billsync.ObjectAccount:            {"currency"},
		billsync.ObjectBalance:            {"code", "name", "description", "startDate", "endDate", "customFields."},
		billsync.ObjectBalanceTransaction: {"appliedDate"},
	},
}

var (
	_ billsync.Billing            = (*Client)(nil)
	_ billsync.TransactionScanner = (*Client)(nil)
	_ billsync.BillingPoller      = (*Client)(nil)
)

// Capabilities of Stripe.
func (c *Client) Capabilities() billsync.BillingCapabilities {
	caps := Capabilities
	caps.TransactionMutableFields = slices.Clone(Capabilities.TransactionMutableFields)
	caps.ReadOnlyFields = maps.Clone(Capabilities.ReadOnlyFields)
	return caps
}

// Tenant is the Stripe account the key reaches.
func (c *Client) Tenant(ctx context.Context) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	if err := c.get(ctx, "/v1/account", nil, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: http.StatusOK, Message: "GET /v1/account answered no id"}
	}
	return out.ID, nil
}
