package stripeapi

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/money"
)

// quote is the part of a Stripe quote billsync reads.
type quote struct {
	ID               string            `json:"id"`
	Customer         json.RawMessage   `json:"customer"` // an id, or the customer when expanded
	Description      string            `json:"description"`
	Status           string            `json:"status"`
	Number           string            `json:"number"`
	Currency         string            `json:"currency"`
	ExpiresAt        int64             `json:"expires_at"`
	Created          int64             `json:"created"`
	Metadata         map[string]string `json:"metadata"`
	AmountTotal      int64             `json:"amount_total"`
	SubscriptionData struct {
		EffectiveDate int64 `json:"effective_date"`
	} `json:"subscription_data"`
}

// lineItem is a quote's line item with its price and product expanded.
type lineItem struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	Quantity    int64  `json:"quantity"`
	AmountTotal int64  `json:"amount_total"`
	Currency    string `json:"currency"`
	Price       struct {
		ID                string `json:"id"`
		Type              string `json:"type"`
		Currency          string `json:"currency"`
		UnitAmountDecimal string `json:"unit_amount_decimal"`
		Recurring         *struct {
			UsageType string `json:"usage_type"`
		} `json:"recurring"`
		Product json.RawMessage `json:"product"` // an id, or the product when expanded
	} `json:"price"`
}

type product struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Metadata map[string]string `json:"metadata"`
}

// idOrObject reads a field Stripe sends as an id or, expanded, as an
// object with one.
func idOrObject(raw json.RawMessage) (id string, obj json.RawMessage) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &id)
		return id, nil
	}
	var o struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(raw, &o)
	return o.ID, raw
}

// quoteOf is a quote in billsync's shape, without its items.
func quoteOf(q *quote) billsync.Entity {
	cus, _ := idOrObject(q.Customer)
	e := billsync.Entity{
		"id":               q.ID,
		"accountId":        cus,
		"description":      q.Description,
		"status":           quoteStatus(q.Status),
		"type":             billsync.QuoteNew,
		"number":           q.Number,
		"currency":         strings.ToUpper(q.Currency),
		"crmOpportunityId": q.Metadata[metaOpportunity],
		"customFields":     customPart(q.Metadata, metaOpportunity),
		"createdAt":        unixUTC(q.Created),
	}
	if d := q.SubscriptionData.EffectiveDate; d != 0 {
		e["startDate"] = time.Unix(d, 0).UTC().Format(time.DateOnly)
	}
	if q.ExpiresAt != 0 {
		e["expiresAt"] = unixUTC(q.ExpiresAt)
	}
	return e
}

// productType is billsync's kind of a Stripe price.
func productType(li *lineItem) string {
	switch {
	case li.Price.Type == "one_time":
		return "ONE_TIME"
	case li.Price.Recurring != nil && li.Price.Recurring.UsageType == "metered":
		return "USAGE"
	}
	return "SUBSCRIPTION"
}

// itemOf is a line item in billsync's quote-item shape.
func itemOf(li *lineItem, quoteCurrency string) (map[string]any, error) {
	cur := li.Currency
	if cur == "" {
		cur = li.Price.Currency
	}
	if cur == "" {
		cur = quoteCurrency
	}
	prodID, raw := idOrObject(li.Price.Product)
	var p product
	if raw != nil {
		_ = json.Unmarshal(raw, &p)
	}
	code := p.Metadata[metaCode]
	if code == "" {
		code = prodID
	}
	amount, err := money.Stripe.FromMinor(li.AmountTotal, cur)
	if err != nil {
		return nil, err
	}
	item := map[string]any{
		"id":          li.ID,
		"productCode": code,
		"productName": p.Name,
		"productType": productType(li),
		"quantity":    itoa64(li.Quantity),
		"description": li.Description,
		"amount":      amount.String(),
	}
	if li.Price.UnitAmountDecimal != "" {
		unit, err := minorDecimal(li.Price.UnitAmountDecimal, cur)
		if err != nil {
			return nil, err
		}
		item["unitPrice"] = unit
	}
	return item, nil
}

// minorDecimal divides a decimal string of minor units (Stripe's
// unit_amount_decimal, up to 12 decimals) by the currency's minor unit,
// exactly, by moving the decimal point in the string: it may hold more
// digits than billsync.Money keeps, so it is not parsed into one.
func minorDecimal(s, cur string) (string, error) {
	e, err := money.Stripe.Exponent(cur)
	if err != nil {
		return "", err
	}
	sign, digits := "", strings.TrimSpace(s)
	if strings.HasPrefix(digits, "-") {
		sign, digits = "-", digits[1:]
	}
	whole, frac, _ := strings.Cut(digits, ".")
	if whole == "" || strings.Trim(whole+frac, "0123456789") != "" {
		return "", billsync.Errorf(billsync.EINVALID, "stripe: unit_amount_decimal %q is not a decimal", s)
	}
	all := whole + frac
	point := len(whole) - e
	if point <= 0 {
		all = strings.Repeat("0", 1-point) + all
		point = 1
	}
	intPart := strings.TrimLeft(all[:point], "0")
	if intPart == "" {
		intPart = "0"
	}
	fracPart := strings.TrimRight(all[point:], "0")
	out := intPart
	if fracPart != "" {
		out += "." + fracPart
	}
	if out == "0" {
		sign = ""
	}
	return sign + out, nil
}

func quotePath(id string) string { return "/v1/quotes/" + url.PathEscape(id) }

// getQuote reads a quote and every page of its line items.
func (c *Client) getQuote(ctx context.Context, id string) (billsync.Entity, error) {
	if id == "" || strings.ContainsAny(id, "/?#") {
		return nil, billsync.Errorf(billsync.EINVALID, "stripe: quote id %q is not valid", id)
	}
	var q quote
	if err := c.get(ctx, quotePath(id), nil, &q); err != nil {
		return nil, err
	}
	return c.withItems(ctx, &q)
}

func (c *Client) withItems(ctx context.Context, q *quote) (billsync.Entity, error) {
	e := quoteOf(q)
	items := []any{}
	after := ""
	for {
		qv := pageQuery(after, 100)
		qv.Add("expand[]", "data.price.product")
		var page list[lineItem]
		if err := c.get(ctx, quotePath(q.ID)+"/line_items", qv, &page); err != nil {
			return nil, err
		}
		for i := range page.Data {
			it, err := itemOf(&page.Data[i], q.Currency)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
		if !page.HasMore || len(page.Data) == 0 {
			break
		}
		after = page.Data[len(page.Data)-1].ID
	}
	e[billsync.QuoteItemsField] = items
	return e, nil
}

// listQuotes pages through quotes, each with its items.
func (c *Client) listQuotes(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	return c.listQuotesWith(ctx, cursor, limit, "")
}

func (c *Client) listQuotesWith(ctx context.Context, cursor string, limit int, status string) ([]billsync.Entity, string, error) {
	q := pageQuery(cursor, limit)
	if status != "" {
		q.Set("status", status)
	}
	var page list[quote]
	if err := c.get(ctx, "/v1/quotes", q, &page); err != nil {
		return nil, "", err
	}
	out := make([]billsync.Entity, 0, len(page.Data))
	for i := range page.Data {
		e, err := c.withItems(ctx, &page.Data[i])
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	return out, nextAfter(page.HasMore, page.Data, func(q quote) string { return q.ID }), nil
}

// linkQuote writes the one thing billsync writes on a quote: the
// Salesforce Opportunity it belongs to (crmOpportunityId), in metadata.
// Stripe lets only a draft change, so the link of a finalized quote is
// refused as unsupported; billsync keeps it in its sync state and on the
// Salesforce Quote either way. Any other field is billing's own.
func (c *Client) linkQuote(ctx context.Context, e billsync.Entity) (billsync.Entity, error) {
	var q quote
	if err := c.get(ctx, quotePath(e.ID()), nil, &q); err != nil {
		return nil, err
	}
	opp := e.Str("crmOpportunityId")
	if q.Metadata[metaOpportunity] == opp {
		return c.withItems(ctx, &q)
	}
	if q.Status != "draft" {
		return nil, refusal("Stripe lets only a draft quote change; quote %s is %s, so its Opportunity (%s) is kept by billsync and on the Salesforce Quote", q.ID, q.Status, opp)
	}
	f := form{}
	f.Set("metadata["+metaOpportunity+"]", opp)
	var out quote
	if err := c.post(ctx, quotePath(q.ID), f, "", &out); err != nil {
		return nil, err
	}
	return c.withItems(ctx, &out)
}

// quoteStatus is a Stripe quote status in billsync's vocabulary: an open
// quote is finalized and with the customer, which billsync calls
// PRESENTED; draft, accepted and canceled keep their names.
func quoteStatus(s string) string {
	if s == "open" {
		return "PRESENTED"
	}
	return strings.ToUpper(s)
}
