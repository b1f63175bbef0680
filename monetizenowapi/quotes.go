package monetizenowapi

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// quote is MonetizeNow's QuoteDetailDto, the part billsync reads. Amounts
// are JSON numbers, kept as json.Number and turned into exact decimals.
type quote struct {
	ID              string         `json:"id"`
	Status          string         `json:"status"`
	Type            string         `json:"type"`
	OriginalQuoteID string         `json:"originalQuoteId"`
	PreviousQuoteID string         `json:"previousQuoteId"`
	ContractID      string         `json:"contractId"`
	AccountID       string         `json:"accountId"`
	Description     string         `json:"description"`
	Currency        string         `json:"currency"`
	ExpirationDate  string         `json:"expirationDate"`
	StartDate       string         `json:"contractStartDate"`
	EndDate         string         `json:"contractEndDate"`
	CustomFields    map[string]any `json:"customFields"`
	CreateDate      string         `json:"createDate"`
	ModifyDate      string         `json:"modifyDate"`
	Opportunity     *struct {
		ID       string `json:"id"`
		CustomID string `json:"customId"`
	} `json:"opportunity"`
	RenewalTerms *struct {
		ContractEndAction string `json:"contractEndAction"`
	} `json:"contractRenewalTerms"`
	Offerings []offering `json:"quoteOfferings"`
}

// offering is a QuoteOfferingDetailDto.
type offering struct {
	ID           string `json:"id"`
	OfferingID   string `json:"offeringId"`
	OfferingName string `json:"offeringName"`
	Role         string `json:"role"`
	Added        bool   `json:"added"`
	Removed      bool   `json:"removed"`
	Items        []item `json:"items"`
}

// item is a QuoteItemDetailDto.
type item struct {
	ID                     string      `json:"id"`
	ProductID              string      `json:"productId"`
	SKU                    string      `json:"sku"`
	ProductName            string      `json:"productName"`
	ProductType            string      `json:"productType"`
	Quantity               json.Number `json:"quantity"`
	UnitPrice              json.Number `json:"unitPrice"`
	UnitPriceAfterDiscount json.Number `json:"unitPriceAfterDiscount"`
	Amount                 json.Number `json:"amount"`
	AmendmentStatus        string      `json:"amendmentStatus"`
}

// roleReference is an offering that is not part of what the quote sells:
// PROVISIONAL, taken to be the read-only snapshot of the contract an
// amendment is diffed against (billing-adapters notes §2.5); its items
// would duplicate the amendment's own lines.
const roleReference = "REFERENCE"

// quoteStatus is a MonetizeNow quote status in billsync's vocabulary
// (quotes.allowedStatuses and quotes.stageMapping speak it): REVIEW is
// pending approval; SENT is with the customer, which billsync calls
// PRESENTED; an accepted quote is ACCEPTED whether or not an admin may
// still edit it or its contract has been made (PROCESSED). The others
// (DRAFT, APPROVED, DENIED, CANCELED, EXPIRED, ARCHIVED) keep their
// names.
func quoteStatus(s string) string {
	switch s = strings.ToUpper(strings.TrimSpace(s)); s {
	case "REVIEW":
		return "PENDING_APPROVAL"
	case "SENT":
		return "PRESENTED"
	case "ACCEPTED_ADMIN_EDITABLE", "PROCESSED":
		return "ACCEPTED"
	}
	return s
}

// amendmentStatus maps an item's change state: MonetizeNow's ADDED is
// billsync's NEW; UPDATED, REMOVED and NO_CHANGE are the same words.
func amendmentStatus(s string) string {
	if s = strings.ToUpper(strings.TrimSpace(s)); s == "ADDED" {
		return "NEW"
	}
	return s
}

// productType maps an item's product type: billed in advance or in
// arrears is a subscription; ONETIME is ONE_TIME; USAGE is USAGE.
// ONETIME_PREPAID_CREDIT and MIN_COMMIT have no counterpart in billsync's
// vocabulary and keep their names.
func productType(s string) string {
	switch s = strings.ToUpper(strings.TrimSpace(s)); s {
	case "ADVANCE", "ARREARS":
		return "SUBSCRIPTION"
	case "ONETIME":
		return "ONE_TIME"
	}
	return s
}

// decimal is a MonetizeNow number as an exact decimal string ("" when
// absent). A double may come in exponent form (1.0E7); it is read digit
// for digit, never through a float.
func decimal(n json.Number, field string) (string, error) {
	if n == "" {
		return "", nil
	}
	m, err := billsync.ParseNumber(string(n))
	if err != nil {
		return "", billsync.Errorf(billsync.EINVALID, "monetizenow: %s %q is not a number", field, n)
	}
	return m.String(), nil
}

// dateOnly is the date part of a MonetizeNow date ("2027-01-01") or
// date-time.
func dateOnly(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 10 {
		if _, err := time.Parse(time.DateOnly, s[:10]); err == nil {
			return s[:10]
		}
	}
	return s
}

// instant is a MonetizeNow date-time as RFC 3339 in UTC; a date alone is
// its midnight UTC, so it keeps its day. "" when absent or unreadable.
func instant(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999Z0700", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format(time.RFC3339Nano)
		}
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC().Format(time.RFC3339)
	}
	return ""
}

// quoteOf is a quote in billsync's shape (the contract's Quote): its
// offerings, REFERENCE ones left out, each with its items.
func quoteOf(q *quote) (billsync.Entity, error) {
	typ := strings.ToUpper(strings.TrimSpace(q.Type))
	e := billsync.Entity{
		"id":          q.ID,
		"accountId":   q.AccountID,
		"description": q.Description,
		"status":      quoteStatus(q.Status),
		"type":        typ,
		"currency":    strings.ToUpper(q.Currency),
		// MANUAL_RENEW: the customer renews by a new quote, which
		// billsync marks with the renewal placeholder product.
		"manualRenewal": q.RenewalTerms != nil && strings.EqualFold(q.RenewalTerms.ContractEndAction, "MANUAL_RENEW"),
	}
	if typ == billsync.QuoteAmendment || typ == billsync.QuoteRenewal {
		// The quote whose owner an amendment or renewal keeps: the first
		// quote of the chain, else the one before.
		orig := q.OriginalQuoteID
		if orig == "" || orig == q.ID {
			orig = q.PreviousQuoteID
		}
		if orig != "" && orig != q.ID {
			e["originalQuoteId"] = orig
		}
	}
	if q.Opportunity != nil && q.Opportunity.CustomID != "" {
		// PROVISIONAL: the opportunity's customId is the Salesforce
		// Opportunity id (its url points into Salesforce).
		e["crmOpportunityId"] = q.Opportunity.CustomID
	}
	if q.ContractID != "" {
		e["contractId"] = q.ContractID
	}
	if d := dateOnly(q.StartDate); d != "" {
		e["startDate"] = d
	}
	if d := dateOnly(q.EndDate); d != "" {
		e["endDate"] = d
	}
	if t := instant(q.ExpirationDate); t != "" {
		e["expiresAt"] = t
	}
	if t := instant(q.CreateDate); t != "" {
		e["createdAt"] = t
	}
	if t := instant(q.ModifyDate); t != "" {
		e["updatedAt"] = t
	}
	if len(q.CustomFields) > 0 {
		e["customFields"] = q.CustomFields
	}
	offs := []any{}
	for i := range q.Offerings {
		o := &q.Offerings[i]
		if strings.EqualFold(o.Role, roleReference) {
			continue
		}
		items := make([]any, 0, len(o.Items))
		for j := range o.Items {
			it, err := itemOf(o, &o.Items[j])
			if err != nil {
				return nil, err
			}
			items = append(items, it)
		}
		offs = append(offs, map[string]any{"id": o.ID, "name": o.OfferingName, "items": items})
	}
	e["offerings"] = offs
	return e, nil
}

// itemOf is an item in billsync's quote-item shape. Its product code is
// the product's SKU (the Salesforce ProductCode), else its MonetizeNow
// id; its unit price is what the customer pays per unit (after
// discount, when MonetizeNow gives it).
func itemOf(o *offering, it *item) (map[string]any, error) {
	code := strings.TrimSpace(it.SKU)
	if code == "" {
		code = it.ProductID
	}
	qty, err := decimal(it.Quantity, "item "+it.ID+" quantity")
	if err != nil {
		return nil, err
	}
	unitRaw := it.UnitPriceAfterDiscount
	if unitRaw == "" {
		unitRaw = it.UnitPrice
	}
	unit, err := decimal(unitRaw, "item "+it.ID+" unit price")
	if err != nil {
		return nil, err
	}
	out := map[string]any{"id": it.ID, "productCode": code, "productName": it.ProductName,
		"productType": productType(it.ProductType), "quantity": qty, "unitPrice": unit}
	if amt, err := decimal(it.Amount, "item "+it.ID+" amount"); err != nil {
		return nil, err
	} else if amt != "" {
		out["amount"] = amt
	}
	st := amendmentStatus(it.AmendmentStatus)
	switch {
	case st != "":
	case o.Removed:
		// An offering dropped by an amendment drops its items.
		st = "REMOVED"
	case o.Added:
		st = "NEW"
	}
	if st != "" {
		out["amendmentStatus"] = st
	}
	return out, nil
}

func quotePath(id string) string { return "/api/quotes/" + url.PathEscape(id) }

func validID(kind, id string) error {
	if id == "" || strings.ContainsAny(id, "/?#") {
		return billsync.Errorf(billsync.EINVALID, "monetizenow: %s id %q is not valid", kind, id)
	}
	return nil
}

// getQuote reads a quote with its offerings and items (MonetizeNow
// returns them inline).
func (c *Client) getQuote(ctx context.Context, id string) (billsync.Entity, error) {
	if err := validID("quote", id); err != nil {
		return nil, err
	}
	var q quote
	if err := c.get(ctx, quotePath(id), nil, &q); err != nil {
		return nil, err
	}
	return quoteOf(&q)
}

// listQuotes reads one page of quotes; the cursor is the page number.
func (c *Client) listQuotes(ctx context.Context, cursor string, limit int) ([]billsync.Entity, string, error) {
	n, err := pageOf(cursor)
	if err != nil {
		return nil, "", err
	}
	var p page[quote]
	if err := c.get(ctx, "/api/quotes", pageQuery(n, limit), &p); err != nil {
		return nil, "", err
	}
	// A quote is read on its own: only its retrieve is documented to
	// carry the offerings inline.
	out := make([]billsync.Entity, 0, len(p.Content))
	for i := range p.Content {
		e, err := c.getQuote(ctx, p.Content[i].ID)
		if billsync.ErrorCode(err) == billsync.ENOTFOUND {
			continue // deleted since the page was read
		}
		if err != nil {
			return nil, "", err
		}
		out = append(out, e)
	}
	return out, p.next(n), nil
}
