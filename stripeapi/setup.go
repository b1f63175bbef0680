package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/billsync/billsync"
)

// endpoint is a Stripe webhook endpoint.
type endpoint struct {
	ID            string   `json:"id"`
	URL           string   `json:"url"`
	EnabledEvents []string `json:"enabled_events"`
	APIVersion    string   `json:"api_version"`
	Secret        string   `json:"secret"` // only in the answer to its creation
	Status        string   `json:"status"`
}

// EndpointResult is what EnsureWebhookEndpoint did.
type EndpointResult struct {
	ID string
	// Secret is the new signing secret when the endpoint was created (or
	// recreated): Stripe shows it once, so it must be stored now as
	// billing.webhookSecret. "" when the stored one stays valid.
	Secret    string
	Created   bool
	Recreated bool
	Updated   bool
	// Message says what was done, for the operator.
	Message string
}

func (c *Client) endpoints(ctx context.Context) ([]endpoint, error) {
	var all []endpoint
	after := ""
	for {
		var page list[endpoint]
		if err := c.get(ctx, "/v1/webhook_endpoints", pageQuery(after, 100), &page); err != nil {
			return nil, err
		}
		all = append(all, page.Data...)
		if !page.HasMore || len(page.Data) == 0 {
			return all, nil
		}
		after = page.Data[len(page.Data)-1].ID
	}
}

func (c *Client) findEndpoint(ctx context.Context, u string) (*endpoint, error) {
	eps, err := c.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	for i := range eps {
		if eps[i].URL == u {
			return &eps[i], nil
		}
	}
	return nil, nil
}

func sameEvents(have []string) bool {
	h := slices.Clone(have)
	slices.Sort(h)
	w := NeededEvents()
	slices.Sort(w)
	return slices.Equal(h, w)
}

// EnsureWebhookEndpoint makes Stripe send billsync's events to url: it
// creates the endpoint with exactly the events billsync reads and the
// API version it speaks, or corrects the events of the one that exists.
// An existing endpoint whose secret billsync does not have (storedSecret
// "") or whose API version differs (which Stripe cannot change) is
// deleted and created again, as Stripe never shows a secret twice.
func (c *Client) EnsureWebhookEndpoint(ctx context.Context, u string, storedSecret string) (EndpointResult, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.Scheme != "https" && pu.Scheme != "http" || pu.Host == "" {
		return EndpointResult{}, billsync.Errorf(billsync.EINVALID, "webhook URL %q: want the absolute http(s) URL Stripe should call", u)
	}
	ep, err := c.findEndpoint(ctx, u)
	if err != nil {
		return EndpointResult{}, err
	}
	why := ""
	switch {
	case ep == nil:
	case storedSecret == "":
		why = "its signing secret is not stored and Stripe shows it only once"
	case ep.APIVersion != "" && ep.APIVersion != c.apiVersion:
		why = fmt.Sprintf("its API version is %s and billsync reads %s, which Stripe cannot change on an endpoint", ep.APIVersion, c.apiVersion)
	}
	if ep != nil && why == "" {
		if sameEvents(ep.EnabledEvents) {
			return EndpointResult{ID: ep.ID, Message: "webhook endpoint " + ep.ID + " is set up as billsync needs"}, nil
		}
		f := form{}
		for _, e := range NeededEvents() {
			f.Add("enabled_events[]", e)
		}
		if err := c.post(ctx, "/v1/webhook_endpoints/"+url.PathEscape(ep.ID), f, idempotencyKey(""), &endpoint{}); err != nil {
			return EndpointResult{}, err
		}
		return EndpointResult{ID: ep.ID, Updated: true, Message: "webhook endpoint " + ep.ID + ": events set to " + strings.Join(NeededEvents(), ", ")}, nil
	}
	if ep != nil {
		if err := c.del(ctx, "/v1/webhook_endpoints/"+url.PathEscape(ep.ID), nil); err != nil {
			return EndpointResult{}, err
		}
	}
	f := form{}
	f.Set("url", u)
	f.Set("api_version", c.apiVersion)
	f.Set("description", "billsync")
	for _, e := range NeededEvents() {
		f.Add("enabled_events[]", e)
	}
	var created endpoint
	if err := c.post(ctx, "/v1/webhook_endpoints", f, idempotencyKey(""), &created); err != nil {
		return EndpointResult{}, err
	}
	res := EndpointResult{ID: created.ID, Secret: created.Secret, Created: ep == nil, Recreated: ep != nil,
		Message: "webhook endpoint " + created.ID + " created; store its signing secret as billing.webhookSecret"}
	if ep != nil {
		res.Message = fmt.Sprintf("webhook endpoint %s deleted and created again as %s because %s; store the new signing secret as billing.webhookSecret", ep.ID, created.ID, why)
	}
	return res, nil
}

// CheckResult is one line of billsync doctor's Stripe checks.
type CheckResult struct {
	Name   string
	OK     bool
	Detail string
}

// restrictedPermissions is what a restricted key needs.
const restrictedPermissions = "Customers: write, Quotes: read, Products and Prices: read, Events: read, Webhook Endpoints: write (for billsync stripe setup)"

// Check says whether the key and the webhook endpoint at url serve
// billsync. It writes nothing: the write check asks Stripe to update a
// customer that cannot exist, which a key allowed to write is refused as
// not found, and one without the permission as forbidden.
func (c *Client) Check(ctx context.Context, u string) []CheckResult {
	var out []CheckResult
	add := func(name string, err error, ok string) {
		if err != nil {
			out = append(out, CheckResult{Name: name, Detail: billsync.ErrorMessage(err)})
			return
		}
		out = append(out, CheckResult{Name: name, OK: true, Detail: ok})
	}
	acct, err := c.Tenant(ctx)
	add("API key", err, "reaches Stripe account "+acct)
	if err != nil && billsync.ErrorCode(err) == billsync.EUNAUTHORIZED {
		return out
	}
	first, err := c.listCustomers(ctx, "", 1)
	add("read customers", err, "ok")
	switch {
	case err != nil:
	case len(first.Data) == 0:
		out = append(out, CheckResult{Name: "read balance transactions", OK: true, Detail: "no customer yet to read them from"})
	default:
		_, err := c.listTxns(ctx, first.Data[0].ID, "", 1)
		add("read balance transactions", err, "ok")
	}
	var quotes list[quote]
	add("read quotes", c.get(ctx, "/v1/quotes", pageQuery("", 1), &quotes), "ok")
	out = append(out, c.checkWrite(ctx))
	if u != "" {
		out = append(out, c.checkEndpoint(ctx, u))
	}
	return out
}

func (c *Client) checkWrite(ctx context.Context) CheckResult {
	const name = "write customers"
	err := c.post(ctx, customerPath("cus_billsync_permission_check"), form{"metadata[billsync_check]": {""}}, idempotencyKey(""), nil)
	var re *billsync.RemoteError
	switch {
	case billsync.ErrorCode(err) == billsync.ENOTFOUND:
		return CheckResult{Name: name, OK: true, Detail: "ok"}
	case billsync.ErrorCode(err) == billsync.EUNAUTHORIZED:
		return CheckResult{Name: name, Detail: "the key may not write; a restricted key needs " + restrictedPermissions}
	case err == nil:
		return CheckResult{Name: name, OK: true, Detail: "ok"}
	case errors.As(err, &re) && re.StatusCode == http.StatusBadRequest:
		return CheckResult{Name: name, OK: true, Detail: "ok (Stripe refused the probe itself: " + re.Message + ")"}
	}
	return CheckResult{Name: name, Detail: billsync.ErrorMessage(err)}
}

func (c *Client) checkEndpoint(ctx context.Context, u string) CheckResult {
	const name = "webhook endpoint"
	ep, err := c.findEndpoint(ctx, u)
	switch {
	case err != nil:
		return CheckResult{Name: name, Detail: billsync.ErrorMessage(err)}
	case ep == nil:
		return CheckResult{Name: name, Detail: "no endpoint for " + u + "; run billsync stripe setup"}
	case ep.Status == "disabled":
		return CheckResult{Name: name, Detail: "endpoint " + ep.ID + " is disabled in Stripe"}
	case !sameEvents(ep.EnabledEvents):
		return CheckResult{Name: name, Detail: fmt.Sprintf("endpoint %s sends %s; billsync needs %s (billsync stripe setup fixes it)",
			ep.ID, strings.Join(ep.EnabledEvents, ", "), strings.Join(NeededEvents(), ", "))}
	case ep.APIVersion != c.apiVersion:
		return CheckResult{Name: name, Detail: fmt.Sprintf("endpoint %s uses API version %q; billsync reads %s (billsync stripe setup recreates it)", ep.ID, ep.APIVersion, c.apiVersion)}
	}
	return CheckResult{Name: name, OK: true, Detail: "endpoint " + ep.ID + " sends the events billsync needs at API version " + c.apiVersion}
}
