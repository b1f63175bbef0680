package salesforce

import (
	"encoding/json"
	"strings"

	"github.com/govalues/decimal"

	"github.com/billsync/billsync"
)

// The platform rules of the standard sales objects (Opportunity, Quote,
// their line items and the price book) that a sync can trip over. Each
// message is a real org's where one was found; testdata/SOURCES.md names
// the source or marks it unverified.
const (
	msgNoEntry            = "field integrity exception: PricebookEntryId, unknown (versions 3.0 and higher must specify pricebook entry id; others must specify product id)"
	msgEntryOtherBookOpp  = "field integrity exception: PricebookEntryId (pricebook entry is in a different pricebook than the one assigned to the opportunity)"
	msgEntryOtherBookQ    = "field integrity exception: PricebookEntryId (pricebook entry is in a different pricebook than the one assigned to the Quote, or Quote has no price book)"
	msgEntryCurrencyOpp   = "field integrity exception: PricebookEntryId (pricebook entry currency code does not match opportunity currency code)"
	msgEntryCurrencyQ     = "field integrity exception: PricebookEntryId (pricebook entry currency code does not match quote currency code)"
	msgEntryInactive      = "field integrity exception: PricebookEntryId (pricebook entry is inactive)"
	msgNoStandardPrice    = "No standard price defined for this product"
	msgDuplicateEntry     = "This price definition already exists in this price book"
	msgOppBookLocked      = "field integrity exception: Pricebook2Id (cannot change pricebook on opportunity with line items)"
	msgOppCurrencyLocked  = "field integrity exception: CurrencyIsoCode (cannot change currency on opportunity with line items)"
	msgBothPrices         = "Cannot change both 'UnitPrice' and 'TotalPrice' in update call"
	msgBothPricesInsert   = "field integrity exception: TotalPrice (cannot specify both unit price and total price)"
	msgZeroQuantityTotal  = "field integrity exception: Quantity (quantity must be nonzero)"
	codeFieldIntegrity    = "FIELD_INTEGRITY_EXCEPTION"
	codeStandardPriceMiss = "STANDARD_PRICE_NOT_DEFINED"
)

func integrityErr(msg string, fields ...string) *apiError {
	return dmlErr(codeFieldIntegrity, fields, "%s", msg)
}

// prefill supplies values a rule provides before the required-field check:
// an entry that uses the standard price takes its UnitPrice from the
// standard entry.
func (t *tx) prefill(o *objectDef, r *record) {
	if o.Name != "PricebookEntry" || r.Fields["UseStandardPrice"] != true {
		return
	}
	if std := t.e.standardEntryLocked(str(r.Fields["Product2Id"]), t.currencyOf(r)); std != nil && std.ID != r.ID {
		r.Fields["UnitPrice"] = std.Fields["UnitPrice"]
	}
}

// beforeSave applies the rules to a record about to be written: r is the
// new state, old the stored one (nil on insert), vals the fields the
// request set.
func (t *tx) beforeSave(o *objectDef, r, old *record, vals map[string]any) *apiError {
	switch o.Name {
	case "Opportunity":
		return t.opportunityRules(r, old)
	case "Quote":
		return t.quoteRules(r, old, vals)
	case "QuoteLineItem":
		return t.quoteLineRules(r, old)
	case "OpportunityLineItem":
		return t.opportunityLineRules(r, old, vals)
	case "PricebookEntry":
		return t.entryRules(r, old)
	}
	return nil
}

// afterSave rolls a written line item up into its parent.
func (t *tx) afterSave(o *objectDef, r *record) *apiError {
	switch o.Name {
	case "QuoteLineItem":
		return t.rollupQuote(str(r.Fields["QuoteId"]))
	case "OpportunityLineItem":
		opp := t.e.records[str(r.Fields["OpportunityId"])]
		if opp != nil && opp.Fields["Pricebook2Id"] == nil {
			// The first product of an opportunity without a price book
			// assigns its entry's book to the opportunity.
			if entry := t.e.records[str(r.Fields["PricebookEntryId"])]; entry != nil {
				t.patch(opp, map[string]any{"Pricebook2Id": entry.Fields["Pricebook2Id"]})
			}
		}
		return t.rollupOpportunity(str(r.Fields["OpportunityId"]))
	}
	return nil
}

// afterRemove re-totals the live parent of a line item deleted or
// restored on its own.
func (t *tx) afterRemove(r *record) {
	switch r.Object {
	case "QuoteLineItem":
		_ = t.rollupQuote(str(r.Fields["QuoteId"]))
	case "OpportunityLineItem":
		_ = t.rollupOpportunity(str(r.Fields["OpportunityId"]))
	}
}

func (t *tx) opportunityRules(r, old *record) *apiError {
	if old == nil {
		return nil
	}
	lines := t.e.childrenLocked("OpportunityLineItem", "OpportunityId", r.ID)
	if len(lines) == 0 {
		return nil
	}
	if r.Fields["Pricebook2Id"] != old.Fields["Pricebook2Id"] {
		return integrityErr(msgOppBookLocked, "Pricebook2Id")
	}
	if t.e.opts.MultiCurrency && r.Fields["CurrencyIsoCode"] != old.Fields["CurrencyIsoCode"] {
		return integrityErr(msgOppCurrencyLocked, "CurrencyIsoCode")
	}
	// Amount is the sum of the products once there are any; a written value
	// is ignored, not refused.
	sum, err := sumField(lines, "TotalPrice")
	if err != nil {
		return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"Amount"}, "Amount: value outside of valid range on numeric field")
	}
	r.Fields["Amount"] = storeNum(sum, 2)
	return nil
}

func (t *tx) quoteRules(r, old *record, vals map[string]any) *apiError {
	opp := t.e.records[str(r.Fields["OpportunityId"])]
	if old == nil && opp != nil {
		if _, set := vals["Pricebook2Id"]; !set {
			r.Fields["Pricebook2Id"] = opp.Fields["Pricebook2Id"]
		}
		if _, set := vals["CurrencyIsoCode"]; !set && t.e.opts.MultiCurrency {
			r.Fields["CurrencyIsoCode"] = opp.Fields["CurrencyIsoCode"]
		}
	}
	return t.quoteTotals(r)
}

// quoteTotals sets the read-only sums of a quote from its lines.
func (t *tx) quoteTotals(q *record) *apiError {
	lines := t.e.childrenLocked("QuoteLineItem", "QuoteId", q.ID)
	sub, err1 := sumField(lines, "Subtotal")
	total, err2 := sumField(lines, "TotalPrice")
	grand, err3 := total.Add(numOr0(q.Fields["Tax"]))
	if err3 == nil {
		grand, err3 = grand.Add(numOr0(q.Fields["ShippingHandling"]))
	}
	if err1 != nil || err2 != nil || err3 != nil {
		return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"GrandTotal"}, "Grand Total: value outside of valid range on numeric field")
	}
	q.Fields["Subtotal"], q.Fields["TotalPrice"], q.Fields["GrandTotal"] = storeNum(sub, 2), storeNum(total, 2), storeNum(grand, 2)
	return nil
}

func (t *tx) quoteLineRules(r, old *record) *apiError {
	quote := t.e.records[str(r.Fields["QuoteId"])]
	entry := t.e.records[str(r.Fields["PricebookEntryId"])]
	if quote == nil || entry == nil {
		return nil // the required-field and reference checks answered already
	}
	if t.e.opts.MultiCurrency {
		// A line's currency is its quote's and cannot be set apart.
		r.Fields["CurrencyIsoCode"] = quote.Fields["CurrencyIsoCode"]
	}
	if old == nil {
		if entry.Fields["IsActive"] != true {
			return integrityErr(msgEntryInactive, "PricebookEntryId")
		}
		if book := quote.Fields["Pricebook2Id"]; book == nil || book != entry.Fields["Pricebook2Id"] {
			return integrityErr(msgEntryOtherBookQ, "PricebookEntryId")
		}
		if t.e.opts.MultiCurrency && entry.Fields["CurrencyIsoCode"] != r.Fields["CurrencyIsoCode"] {
			return integrityErr(msgEntryCurrencyQ, "PricebookEntryId")
		}
		r.Fields["Product2Id"] = entry.Fields["Product2Id"]
		r.Fields["ListPrice"] = entry.Fields["UnitPrice"]
		r.Fields["LineNumber"] = formatAutoNumber("{00000}", t.e.nextAutoNumberLocked("QuoteLineItem"))
	}
	return lineTotals(r)
}

func (t *tx) opportunityLineRules(r, old *record, vals map[string]any) *apiError {
	opp := t.e.records[str(r.Fields["OpportunityId"])]
	if opp == nil {
		return nil
	}
	if old == nil && r.Fields["PricebookEntryId"] == nil {
		return integrityErr(msgNoEntry, "PricebookEntryId", "unknown")
	}
	entry := t.e.records[str(r.Fields["PricebookEntryId"])]
	if entry == nil {
		return nil
	}
	if t.e.opts.MultiCurrency {
		r.Fields["CurrencyIsoCode"] = opp.Fields["CurrencyIsoCode"]
	}
	_, setUnit := vals["UnitPrice"]
	_, setTotal := vals["TotalPrice"]
	if old == nil {
		if entry.Fields["IsActive"] != true {
			return integrityErr(msgEntryInactive, "PricebookEntryId")
		}
		if book := opp.Fields["Pricebook2Id"]; book != nil && book != entry.Fields["Pricebook2Id"] {
			return integrityErr(msgEntryOtherBookOpp, "PricebookEntryId")
		}
		if t.e.opts.MultiCurrency && entry.Fields["CurrencyIsoCode"] != r.Fields["CurrencyIsoCode"] {
			return integrityErr(msgEntryCurrencyOpp, "PricebookEntryId")
		}
		r.Fields["Product2Id"] = entry.Fields["Product2Id"]
		r.Fields["ListPrice"] = entry.Fields["UnitPrice"]
		name := str(opp.Fields["Name"])
		if p := t.e.records[str(entry.Fields["Product2Id"])]; p != nil {
			name += " " + str(p.Fields["Name"])
		}
		r.Fields["Name"] = truncateRunes(name, 376)
		switch {
		case setUnit && setTotal && r.Fields["UnitPrice"] != nil && r.Fields["TotalPrice"] != nil:
			return integrityErr(msgBothPricesInsert, "TotalPrice")
		case r.Fields["UnitPrice"] == nil && r.Fields["TotalPrice"] == nil:
			return dmlErr("REQUIRED_FIELD_MISSING", []string{"UnitPrice"}, "Required fields are missing: [UnitPrice]")
		}
	} else if setUnit && setTotal {
		return dmlErr("INVALID_FIELD", []string{"UnitPrice"}, "%s", msgBothPrices)
	}
	if setTotal && !setUnit && r.Fields["TotalPrice"] != nil {
		// A total without a unit price sets the unit price, as the platform
		// does when a sales price is entered as a total.
		qty, disc := numOr0(r.Fields["Quantity"]), numOr0(r.Fields["Discount"])
		factor, err := qty.Mul(hundredMinus(disc))
		if err != nil || factor.IsZero() {
			return integrityErr(msgZeroQuantityTotal, "Quantity")
		}
		total := numOr0(r.Fields["TotalPrice"])
		scaled, err := total.Mul(decimal.Hundred)
		if err != nil {
			return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"TotalPrice"}, "Total Price: value outside of valid range on numeric field")
		}
		unit, err := scaled.Quo(factor)
		if err != nil {
			return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"UnitPrice"}, "Sales Price: value outside of valid range on numeric field")
		}
		r.Fields["UnitPrice"] = storeNum(unit, 2)
		sub, err := qty.Mul(numOr0(r.Fields["UnitPrice"]))
		if err != nil {
			return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"TotalPrice"}, "Total Price: value outside of valid range on numeric field")
		}
		r.Fields["Subtotal"] = storeNum(sub, 2)
		return nil
	}
	return lineTotals(r)
}

// lineTotals sets Subtotal = Quantity × UnitPrice and TotalPrice = Subtotal
// less the line's discount, rounded to cents half away from zero.
func lineTotals(r *record) *apiError {
	sub, err := numOr0(r.Fields["Quantity"]).Mul(numOr0(r.Fields["UnitPrice"]))
	if err != nil {
		return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"TotalPrice"}, "Total Price: value outside of valid range on numeric field")
	}
	total := sub
	if d := numOr0(r.Fields["Discount"]); !d.IsZero() {
		if x, err := sub.Mul(hundredMinus(d)); err == nil {
			total, _ = x.Quo(decimal.Hundred)
		} else {
			return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"TotalPrice"}, "Total Price: value outside of valid range on numeric field")
		}
	}
	r.Fields["Subtotal"], r.Fields["TotalPrice"] = storeNum(sub, 2), storeNum(total, 2)
	return nil
}

func hundredMinus(d decimal.Decimal) decimal.Decimal {
	x, err := decimal.Hundred.Sub(d)
	if err != nil {
		return decimal.Hundred
	}
	return x
}

func (t *tx) entryRules(r, old *record) *apiError {
	book := t.e.records[str(r.Fields["Pricebook2Id"])]
	product := str(r.Fields["Product2Id"])
	if book == nil {
		return nil
	}
	cur := t.currencyOf(r)
	if old == nil {
		if dup := t.e.entryLocked(book.ID, product, cur); dup != nil && dup.ID != r.ID {
			return integrityErr(msgDuplicateEntry)
		}
	}
	if book.Fields["IsStandard"] == true || old != nil && r.Fields["UseStandardPrice"] != true {
		return nil
	}
	std := t.e.standardEntryLocked(product, cur)
	if std == nil {
		return dmlErr(codeStandardPriceMiss, nil, "%s", msgNoStandardPrice)
	}
	if r.Fields["UseStandardPrice"] == true {
		r.Fields["UnitPrice"] = std.Fields["UnitPrice"]
	}
	return nil
}

// currencyOf is a record's currency in a multi-currency org, "" otherwise.
func (t *tx) currencyOf(r *record) string {
	if !t.e.opts.MultiCurrency {
		return ""
	}
	return str(r.Fields["CurrencyIsoCode"])
}

// entryLocked finds the live entry of a product in a book (and currency,
// when cur is not "").
func (e *Emulator) entryLocked(bookID, productID, cur string) *record {
	for _, x := range e.byObject["pricebookentry"] {
		if x.Deleted || str(x.Fields["Pricebook2Id"]) != bookID || str(x.Fields["Product2Id"]) != productID {
			continue
		}
		if cur == "" || str(x.Fields["CurrencyIsoCode"]) == cur {
			return x
		}
	}
	return nil
}

// standardEntryLocked finds a product's entry in the standard price book.
func (e *Emulator) standardEntryLocked(productID, cur string) *record {
	std := e.standardPricebookLocked()
	if std == nil {
		return nil
	}
	return e.entryLocked(std.ID, productID, cur)
}

func (e *Emulator) standardPricebookLocked() *record {
	for _, b := range e.sortedLocked("Pricebook2", false) {
		if b.Fields["IsStandard"] == true {
			return b
		}
	}
	return nil
}

// childrenLocked lists the live records of object whose field holds id.
func (e *Emulator) childrenLocked(object, field, id string) []*record {
	var out []*record
	for _, x := range e.byObject[strings.ToLower(object)] {
		if !x.Deleted && x.Fields[field] == id {
			out = append(out, x)
		}
	}
	return out
}

func (t *tx) rollupQuote(id string) *apiError {
	q := t.e.records[id]
	if q == nil || q.Deleted {
		return nil
	}
	next := q.clone()
	if err := t.quoteTotals(next); err != nil {
		return err
	}
	t.patch(q, map[string]any{"Subtotal": next.Fields["Subtotal"], "TotalPrice": next.Fields["TotalPrice"], "GrandTotal": next.Fields["GrandTotal"]})
	return nil
}

func (t *tx) rollupOpportunity(id string) *apiError {
	opp := t.e.records[id]
	if opp == nil || opp.Deleted {
		return nil
	}
	sum, err := sumField(t.e.childrenLocked("OpportunityLineItem", "OpportunityId", id), "TotalPrice")
	if err != nil {
		return dmlErr("NUMBER_OUTSIDE_VALID_RANGE", []string{"Amount"}, "Amount: value outside of valid range on numeric field")
	}
	t.patch(opp, map[string]any{"Amount": storeNum(sum, 2)})
	return nil
}

// patch changes fields the platform maintains on a record the request did
// not write; it is not an API write, so Writes stays as it was.
func (t *tx) patch(r *record, fields map[string]any) {
	t.touch(r.ID)
	c := r.clone()
	for k, v := range fields {
		c.Fields[k] = v
	}
	c.Fields["SystemModstamp"] = formatDateTime(t.now)
	t.e.putLocked(c)
}

func sumField(rs []*record, field string) (decimal.Decimal, error) {
	sum := decimal.Zero
	for _, r := range rs {
		var err error
		if sum, err = sum.Add(numOr0(r.Fields[field])); err != nil {
			return decimal.Zero, err
		}
	}
	return sum, nil
}

// numOr0 reads a stored number; a missing or unreadable one counts as 0.
func numOr0(v any) decimal.Decimal {
	n, ok := v.(json.Number)
	if !ok {
		return decimal.Zero
	}
	d, err := decimal.Parse(n.String())
	if err != nil {
		return decimal.Zero
	}
	return d
}

// storeNum is a computed amount in stored form, rounded half away from
// zero to scale as the platform rounds.
func storeNum(d decimal.Decimal, scale int) json.Number {
	m, err := billsync.ParseMoney(d.String())
	if err != nil {
		return json.Number(d.String())
	}
	r, _ := m.Round(scale)
	return json.Number(r.Canonical())
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
