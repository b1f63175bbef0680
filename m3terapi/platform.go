package m3terapi

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

// m3ter is billing.platform "m3ter".
func init() {
	billsync.RegisterBillingPlatform(billsync.BillingPlatform{Name: billsync.PlatformM3ter, Open: Open})
}

// DefaultURL is m3ter's API.
const DefaultURL = "https://api.m3ter.com"

// The values of billing.options.balanceAmount.
const (
	// amountTransaction: a Salesforce edit of a balance's amount becomes a
	// balance transaction for the difference.
	amountTransaction = "transaction"
	// amountUnsupported: the amount is m3ter's alone; an edit of it is
	// unsupported (flagged or restored in Salesforce).
	amountUnsupported = "unsupported"
)

// optionNames are the billing.options m3ter knows.
var optionNames = []string{"orgId", "serviceUserId", "rateLimit", "balanceAmount"}

// Open builds m3ter's adapter from the config's billing section.
// billing.webhookSecret is not used: m3ter's webhook signature scheme is
// not confirmed, so deliveries are hints and the URL carries the secret.
func Open(o billsync.BillingOptions) (*billsync.BillingAdapter, error) {
	c, err := NewClient(o)
	if err != nil {
		return nil, err
	}
	return &billsync.BillingAdapter{Billing: c, Webhooks: NewWebhooks(c)}, nil
}

// NewClient builds the client from billing.url (default m3ter's API),
// billing.token ("<access key id>:<api secret>") and billing.options.
func NewClient(o billsync.BillingOptions) (*Client, error) {
	keyID, secret, ok := strings.Cut(strings.TrimSpace(o.Token), ":")
	keyID, secret = strings.TrimSpace(keyID), strings.TrimSpace(secret)
	if !ok || keyID == "" || secret == "" {
		return nil, billsync.Errorf(billsync.EINVALID, `billing.token: want "<access key id>:<api secret>" of an m3ter service user`)
	}
	for name := range o.Options {
		if !slices.Contains(optionNames, name) {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.%s: unknown option for m3ter (known: %s)", name, strings.Join(optionNames, ", "))
		}
	}
	org := strings.TrimSpace(o.Options["orgId"])
	if org == "" || strings.ContainsAny(org, "/?#") {
		return nil, billsync.Errorf(billsync.EINVALID, "billing.options.orgId: the m3ter organization id is required")
	}
	perSecond := 10.0
	if s, ok := o.Options["rateLimit"]; ok {
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || n <= 0 || n > 10000 {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.rateLimit %q: want requests per second, a number above 0", s)
		}
		perSecond = n
	}
	amount := amountTransaction
	if s, ok := o.Options["balanceAmount"]; ok {
		amount = strings.TrimSpace(s)
		if amount != amountTransaction && amount != amountUnsupported {
			return nil, billsync.Errorf(billsync.EINVALID, "billing.options.balanceAmount %q: want transaction or unsupported", s)
		}
	}
	base := strings.TrimRight(strings.TrimSpace(o.URL), "/")
	if base == "" {
		base = DefaultURL
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "billing.url %q: want m3ter's API base URL, e.g. %s", o.URL, DefaultURL)
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	clock := o.Clock
	if clock == nil {
		clock = time.Now
	}
	c := &Client{base: base, org: org, keyID: keyID, secret: secret, balanceAmount: amount, hc: hc, clock: clock,
		pace: rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond))), sleep: sleepCtx}
	if su := strings.TrimSpace(o.Options["serviceUserId"]); su != "" {
		c.serviceUser, c.userFixed = su, true
	}
	return c, nil
}

// capabilities are m3ter's: integer versions; a balance's amount derived
// from its transactions, so writable only through a transaction for the
// difference (billing.options.balanceAmount transaction); transactions
// created and listed only; no signed webhooks (fetch-on-notify); no
// events for transactions (the engine scans a changed balance).
func (c *Client) capabilities() billsync.BillingCapabilities {
	return billsync.BillingCapabilities{
		Platform:              billsync.PlatformM3ter,
		Versioning:            billsync.VersionInteger,
		BalanceAmountWritable: c.balanceAmount == amountTransaction,
		TransactionsUpdatable: false,
		TransactionsDeletable: false,
		QuotesCarryOfferings:  false,
		SignedWebhooks:        false,
		TransactionEvents:     false,
		// A transaction's currency is its balance's; billsync renders it
		// and m3ter takes it from no one.
		ReadOnlyFields: map[billsync.ObjectType][]string{
			billsync.ObjectBalanceTransaction: {"currency"},
		},
	}
}

var (
	_ billsync.Billing            = (*Client)(nil)
	_ billsync.TransactionScanner = (*Client)(nil)
	_ billsync.BillingPoller      = (*Client)(nil)
)

// Capabilities of m3ter, as billing.options set them.
func (c *Client) Capabilities() billsync.BillingCapabilities { return c.capabilities() }

// me is the answer of GET users/me.
type me struct {
	User *struct {
		ID string `json:"id"`
	} `json:"user"`
	ServiceUser *struct {
		ID string `json:"id"`
	} `json:"serviceUser"`
	Organization *struct {
		ID    string `json:"id"`
		OrgID string `json:"orgId"`
	} `json:"organization"`
}

// Tenant is the m3ter organization the credentials reach. It also learns
// the user billsync writes as (PROVISIONAL: that users/me names the
// service user an access key belongs to; billing.options.serviceUserId,
// when set, is preferred), so that billsync's own writes are known.
func (c *Client) Tenant(ctx context.Context) (string, error) {
	var out me
	if err := c.get(ctx, c.orgPath("users", "me"), nil, &out); err != nil {
		code := billsync.ErrorCode(err)
		if code != billsync.ENOTFOUND && code != billsync.EFORBIDDEN {
			return "", err
		}
		// users/me may not answer for a service user: a list the key is
		// allowed shows as well that the credentials reach the
		// organization; billsync's own writes are then known only through
		// billing.options.serviceUserId.
		if _, _, lerr := c.listAccounts(ctx, "", 1); lerr != nil {
			return "", lerr
		}
		return c.org, nil
	}
	switch {
	case out.ServiceUser != nil && out.ServiceUser.ID != "":
		c.learnServiceUser(out.ServiceUser.ID)
	case out.User != nil && out.User.ID != "":
		c.learnServiceUser(out.User.ID)
	}
	if out.Organization != nil {
		if out.Organization.OrgID != "" {
			return out.Organization.OrgID, nil
		}
		if out.Organization.ID != "" {
			return out.Organization.ID, nil
		}
	}
	// users/me reached the organization; its id is the configured one.
	return c.org, nil
}
