package rules

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	billsync "github.com/billsync/billsync"
)

// QuoteContext is what validation needs beyond the quote itself: the
// billing account's link, what the engine found (or did not find) in
// Salesforce, and the quote settings. The *NotFound flags are reported by
// the engine after its lookups; left false they check nothing, so a dry run
// that skips lookups never invents errors.
type QuoteContext struct {
	// AccountCRMID is the crmAccountId of the quote's billing account.
	AccountCRMID string
	// AccountNotFound: AccountCRMID names no Account in Salesforce.
	AccountNotFound bool
	// OpportunityNotFound: the quote's crmOpportunityId names no
	// Opportunity in Salesforce.
	OpportunityNotFound bool
	// AutoCreateOpportunity is quotes.autoCreateOpportunity (E6). Without
	// it a quote needs an Opportunity, since Salesforce requires
	// Quote.OpportunityId.
	AutoCreateOpportunity bool
	// MultiCurrency is true in an org with multiple currencies enabled.
	MultiCurrency bool
	// OrgCurrencies are the org's active currency codes (multi-currency
	// only); empty skips the check.
	OrgCurrencies []string
	// OrgCurrency is the single currency of a single-currency org; a quote
	// in another currency would show wrong amounts there. Empty skips the
	// check.
	OrgCurrency string
}

// ValidateQuote checks a quote as the billing platform sent it (E5), before
// anything is written: required fields, relationships, types, and decimal
// amounts. It works on the raw entity because a typed Quote cannot even
// hold a quantity that is not a decimal. On success it returns the typed
// quote; otherwise a ValidationErrors listing every problem, each naming
// its billing field (an account without a linked Salesforce Account names
// "crmAccountId").
func ValidateQuote(e billsync.Entity, ctx QuoteContext) (billsync.Quote, error) {
	v := &validator{}
	id := v.requiredString(e, "id", "id")
	accountID := v.requiredString(e, "accountId", "accountId")
	v.requiredString(e, "status", "status")
	typ := v.requiredString(e, "type", "type")
	v.optionalString(e, "description", "description")

	switch {
	case accountID == "":
	case ctx.AccountCRMID == "":
		v.add("crmAccountId", fmt.Sprintf("account %s has no linked Salesforce Account", accountID))
	case ctx.AccountNotFound:
		v.add("crmAccountId", fmt.Sprintf("Salesforce Account %s (linked from account %s) does not exist", ctx.AccountCRMID, accountID))
	}

	switch typ {
	case "":
	case billsync.QuoteNew:
	case billsync.QuoteAmendment, billsync.QuoteRenewal:
		orig := v.optionalString(e, "originalQuoteId", "originalQuoteId")
		switch {
		case orig == "" && !v.failed("originalQuoteId"):
			v.add("originalQuoteId", fmt.Sprintf("required for a %s quote", typ))
		case orig != "" && orig == id:
			v.add("originalQuoteId", "a quote cannot amend or renew itself")
		}
	default:
		v.add("type", fmt.Sprintf("%q is not a quote type (want %s, %s or %s)", typ,
			billsync.QuoteNew, billsync.QuoteAmendment, billsync.QuoteRenewal))
	}

	opp := v.optionalString(e, "crmOpportunityId", "crmOpportunityId")
	switch {
	case v.failed("crmOpportunityId"):
	case opp == "" && !ctx.AutoCreateOpportunity:
		v.add("crmOpportunityId", fmt.Sprintf("no Opportunity is linked and %s is off; a Salesforce Quote needs an Opportunity",
			billsync.KeyQuotesAutoCreateOpportunity))
	case opp != "" && ctx.OpportunityNotFound:
		v.add("crmOpportunityId", fmt.Sprintf("Opportunity %s does not exist in Salesforce", opp))
	}

	cur := v.optionalString(e, "currency", "currency")
	switch {
	case v.failed("currency"):
	case cur == "" && ctx.MultiCurrency:
		v.add("currency", "required in a multi-currency Salesforce org")
	case cur == "":
	case !isISOCurrency(cur):
		v.add("currency", fmt.Sprintf("%q is not an ISO 4217 code (three upper-case letters)", cur))
	case ctx.MultiCurrency && len(ctx.OrgCurrencies) > 0 && !slices.Contains(ctx.OrgCurrencies, cur):
		v.add("currency", fmt.Sprintf("%s is not an active currency of the Salesforce org", cur))
	case !ctx.MultiCurrency && ctx.OrgCurrency != "" && cur != ctx.OrgCurrency:
		v.add("currency", fmt.Sprintf("%s differs from the single currency %s of the Salesforce org", cur, ctx.OrgCurrency))
	}

	if x, ok := e["manualRenewal"]; ok && x != nil {
		if _, isBool := x.(bool); !isBool {
			v.add("manualRenewal", "want true or false")
		}
	}
	start, startOK := v.optionalDate(e, "startDate")
	end, endOK := v.optionalDate(e, "endDate")
	if startOK && endOK && !start.IsZero() && !end.IsZero() && end.String() < start.String() {
		v.add("endDate", fmt.Sprintf("%s is before startDate %s", end, start))
	}
	if s := v.optionalString(e, "expiresAt", "expiresAt"); s != "" {
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			v.add("expiresAt", fmt.Sprintf("%q is not an RFC 3339 time", s))
		}
	}
	if x, ok := e["customFields"]; ok && x != nil {
		if _, isMap := asObject(x); !isMap {
			v.add("customFields", "want an object")
		}
	}
	v.offerings(e)

	if len(v.errs) > 0 {
		return billsync.Quote{}, v.errs
	}
	q, err := decodeQuote(e)
	if err != nil {
		return billsync.Quote{}, ValidationErrors{err}
	}
	return q, nil
}

type validator struct {
	errs ValidationErrors
}

func (v *validator) add(field, msg string) { v.errs = append(v.errs, invalid(field, msg)) }

func (v *validator) failed(field string) bool {
	return slices.ContainsFunc(v.errs, func(e *ValidationError) bool { return e.Field == field })
}

// optionalString reads a string field; absent and null read as "", any
// other type is an error.
func (v *validator) optionalString(m map[string]any, key, field string) string {
	x, ok := m[key]
	if !ok || x == nil {
		return ""
	}
	s, isString := x.(string)
	if !isString {
		v.add(field, "want a string")
		return ""
	}
	return s
}

func (v *validator) requiredString(m map[string]any, key, field string) string {
	x, present := m[key]
	s := v.optionalString(m, key, field)
	if s == "" && !v.failed(field) {
		if !present || x == nil {
			v.add(field, "required")
		} else {
			v.add(field, "must not be blank")
		}
	}
	return s
}

func (v *validator) optionalDate(m map[string]any, key string) (billsync.Date, bool) {
	s := v.optionalString(m, key, key)
	if v.failed(key) {
		return billsync.Date{}, false
	}
	if s == "" {
		return billsync.Date{}, true
	}
	d, err := billsync.ParseDate(s)
	if err != nil {
		v.add(key, fmt.Sprintf("%q is not a date (want YYYY-MM-DD)", s))
		return billsync.Date{}, false
	}
	return d, true
}

func (v *validator) decimal(m map[string]any, key, field string) {
	x, ok := m[key]
	var s string
	switch t := x.(type) {
	case nil:
		if ok {
			v.add(field, "required, got null")
		} else {
			v.add(field, "required")
		}
		return
	case string:
		s = t
	case json.Number:
		s = t.String()
	default:
		v.add(field, "want a decimal string such as \"12.50\"")
		return
	}
	if _, err := billsync.ParseMoney(s); err != nil {
		v.add(field, fmt.Sprintf("%q is not a decimal amount", s))
	}
}

func (v *validator) offerings(e billsync.Entity) {
	x, ok := e["offerings"]
	if !ok || x == nil {
		return
	}
	offerings, isList := asList(x)
	if !isList {
		v.add("offerings", "want a list")
		return
	}
	seen := map[string]string{}
	for i, ox := range offerings {
		op := fmt.Sprintf("offerings[%d]", i)
		o, isObj := asObject(ox)
		if !isObj {
			v.add(op, "want an object")
			continue
		}
		v.requiredString(o, "id", op+".id")
		v.optionalString(o, "name", op+".name")
		ix, ok := o["items"]
		if !ok || ix == nil {
			continue
		}
		items, isList := asList(ix)
		if !isList {
			v.add(op+".items", "want a list")
			continue
		}
		for j, itx := range items {
			ip := fmt.Sprintf("%s.items[%d]", op, j)
			it, isObj := asObject(itx)
			if !isObj {
				v.add(ip, "want an object")
				continue
			}
			if id := v.requiredString(it, "id", ip+".id"); id != "" {
				if first, dup := seen[id]; dup {
					// One line per item id: the id is the external id of
					// both the QuoteLineItem and the Opportunity product.
					v.add(ip+".id", fmt.Sprintf("%q is also the id of %s", id, first))
				} else {
					seen[id] = ip
				}
			}
			v.requiredString(it, "productCode", ip+".productCode")
			v.decimal(it, "quantity", ip+".quantity")
			v.decimal(it, "unitPrice", ip+".unitPrice")
			v.optionalString(it, "productName", ip+".productName")
			v.optionalString(it, "productType", ip+".productType")
			v.optionalString(it, "amendmentStatus", ip+".amendmentStatus")
		}
	}
}

// decodeQuote fills the typed quote from the checked entity through its
// JSON form, which keeps numbers exact (Money reads a JSON number digit for
// digit). Fields validation does not cover (version, timestamps) can still
// fail here; they are reported with the field the decoder names.
func decodeQuote(e billsync.Entity) (billsync.Quote, *ValidationError) {
	b, err := json.Marshal(e)
	if err != nil {
		return billsync.Quote{}, invalid("", fmt.Sprintf("quote cannot be encoded: %v", err))
	}
	var q billsync.Quote
	if err := json.Unmarshal(b, &q); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return billsync.Quote{}, invalid(te.Field, fmt.Sprintf("want %s, got a JSON %s", te.Type, te.Value))
		}
		return billsync.Quote{}, invalid("", fmt.Sprintf("quote cannot be read: %v", err))
	}
	return q, nil
}

func asObject(x any) (map[string]any, bool) {
	switch m := x.(type) {
	case map[string]any:
		return m, true
	case billsync.Entity:
		return m, true
	}
	return nil, false
}

func asList(x any) ([]any, bool) {
	switch l := x.(type) {
	case []any:
		return l, true
	case []map[string]any:
		out := make([]any, len(l))
		for i, m := range l {
			out[i] = m
		}
		return out, true
	}
	return nil, false
}

func isISOCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}
