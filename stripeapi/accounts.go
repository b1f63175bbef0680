package stripeapi

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// Metadata keys billsync reads and writes on Stripe objects; every other
// key is a custom field.
const (
	metaCode        = "billsync_code"
	metaCRMAccount  = "billsync_crm_account_id"
	metaOpportunity = "billsync_crm_opportunity_id"
)

// customer is the part of a Stripe customer billsync reads. Integers are
// minor units; nothing passes through float64.
type customer struct {
	ID                   string            `json:"id"`
	Deleted              bool              `json:"deleted"`
	Name                 string            `json:"name"`
	Email                string            `json:"email"`
	Currency             string            `json:"currency"`
	Balance              int64             `json:"balance"`
	InvoiceCreditBalance map[string]int64  `json:"invoice_credit_balance"`
	Metadata             map[string]string `json:"metadata"`
	Created              int64             `json:"created"`
}

func unixUTC(s int64) string {
	if s == 0 {
		return ""
	}
	return time.Unix(s, 0).UTC().Format(time.RFC3339)
}

func customPart(md map[string]string, reserved ...string) map[string]any {
	out := map[string]any{}
	for k, v := range md {
		if !isReserved(k, reserved) {
			out[k] = v
		}
	}
	return out
}

func isReserved(k string, reserved []string) bool {
	for _, r := range reserved {
		if k == r {
			return true
		}
	}
	return false
}

// accountOf is a customer in the account shape.
func accountOf(c *customer) billsync.Entity {
	return billsync.Entity{
		"id":           c.ID,
		"name":         c.Name,
		"emailAddress": c.Email,
		"currency":     strings.ToUpper(c.Currency),
		"code":         c.Metadata[metaCode],
		"crmAccountId": c.Metadata[metaCRMAccount],
		"customFields": customPart(c.Metadata, metaCode, metaCRMAccount),
		"createdAt":    unixUTC(c.Created),
	}
}

func customerPath(id string) string { return "/v1/customers/" + url.PathEscape(id) }

// readCustomer is a customer Stripe still has: one it keeps only as
// deleted is ENOTFOUND, as for the engine it is gone.
func (c *Client) readCustomer(ctx context.Context, id string) (*customer, error) {
	if id == "" || strings.ContainsAny(id, "/?#") {
		return nil, billsync.Errorf(billsync.EINVALID, "stripe: customer id %q is not valid", id)
	}
	var cu customer
	if err := c.get(ctx, customerPath(id), nil, &cu); err != nil {
		return nil, err
	}
	if cu.Deleted {
		return nil, notFound("No such customer: '%s' (deleted)", id)
	}
	return &cu, nil
}

// metadataOf is the metadata an account entity stands for: its code and
// Salesforce account id under billsync's keys, and its custom fields.
func metadataOf(e billsync.Entity, fixed map[string]string) map[string]string {
	md := map[string]string{}
	if cf, ok := asMap(e["customFields"]); ok {
		for k, v := range cf {
			if s := billsync.ValueString(v); s != "" {
				md[k] = s
			}
		}
	}
	for k, v := range fixed {
		if v != "" {
			md[k] = v
		} else {
			delete(md, k)
		}
	}
	return md
}

// putMetadata writes into f the metadata changes that turn have into
// want; an empty value unsets a key, as Stripe does.
func putMetadata(f form, have, want map[string]string) {
	for k, v := range want {
		if have[k] != v {
			f.Set("metadata["+k+"]", v)
		}
	}
	for k := range have {
		if _, ok := want[k]; !ok {
			f.Set("metadata["+k+"]", "")
		}
	}
}

func (c *Client) createAccount(ctx context.Context, e billsync.Entity, key string) (billsync.Entity, error) {
	f := form{}
	if v := e.Str("name"); v != "" {
		f.Set("name", v)
	}
	if v := e.Str("emailAddress"); v != "" {
		f.Set("email", v)
	}
	putMetadata(f, nil, metadataOf(e, map[string]string{metaCode: e.Str("code"), metaCRMAccount: e.Str("crmAccountId")}))
	var cu customer
	if err := c.post(ctx, "/v1/customers", f, idempotencyKey(key), &cu); err != nil {
		return nil, err
	}
	return accountOf(&cu), nil
}

// updateAccount sends only what differs from the customer as it stands:
// a partial POST, so a field someone else changed meanwhile and billsync
// did not touch is not written back. The currency is Stripe's to set.
func (c *Client) updateAccount(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	cu, err := c.readCustomer(ctx, e.ID())
	if err != nil {
		return nil, err
	}
	f := form{}
	if v := e.Str("name"); v != cu.Name {
		f.Set("name", v)
	}
	if v := e.Str("emailAddress"); v != cu.Email {
		f.Set("email", v)
	}
	want := metadataOf(e, map[string]string{metaCode: e.Str("code"), metaCRMAccount: e.Str("crmAccountId")})
	putMetadata(f, cu.Metadata, want)
	if len(f) == 0 {
		return accountOf(cu), nil
	}
	var out customer
	if err := c.post(ctx, customerPath(cu.ID), f, idempotencyKey(""), &out); err != nil {
		return nil, err
	}
	return accountOf(&out), nil
}

func (c *Client) deleteAccount(ctx context.Context, id string) error {
	if _, err := c.readCustomer(ctx, id); err != nil {
		return err
	}
	return c.del(ctx, customerPath(id), nil)
}

// list is one page of a Stripe list.
type list[T any] struct {
	Data    []T  `json:"data"`
	HasMore bool `json:"has_more"`
}

func pageQuery(after string, limit int) form {
	q := form{}
	if after != "" {
		q.Set("starting_after", after)
	}
	q.Set("limit", itoa(clampLimit(limit)))
	return q
}

// clampLimit keeps a page size within Stripe's 1..100.
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 100:
		return 100
	}
	return n
}

func (c *Client) listCustomers(ctx context.Context, after string, limit int) (list[customer], error) {
	var out list[customer]
	err := c.get(ctx, "/v1/customers", pageQuery(after, limit), &out)
	return out, err
}

func (c *Client) listAccounts(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	page, err := c.listCustomers(ctx, cursor, limit)
	if err != nil {
		return nil, "", err
	}
	out := make([]billsync.Entity, 0, len(page.Data))
	for i := range page.Data {
		out = append(out, accountOf(&page.Data[i]))
	}
	return out, nextAfter(page.HasMore, page.Data, func(c customer) string { return c.ID }), nil
}

func nextAfter[T any](more bool, data []T, id func(T) string) string {
	if !more || len(data) == 0 {
		return ""
	}
	return id(data[len(data)-1])
}

func asMap(v any) (map[string]any, bool) {
	switch m := v.(type) {
	case map[string]any:
		return m, true
	case billsync.Entity:
		return m, true
	}
	return nil, false
}

func itoa(n int) string { return strconv.Itoa(n) }
