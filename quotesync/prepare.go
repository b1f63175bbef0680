package quotesync

import (
	"errors"
	"fmt"
	"slices"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// The decisions before the plan: is the quote valid against what was read
// (E5), who owns a new Quote (E3), which PricebookEntry each line takes
// (E10). All are pure functions of the snapshot.

// checked is a quote that passed validation.
type checked struct {
	q         billsync.Quote
	lines     []rules.Line
	paths     []string                  // each line's billing JSON path, in Flatten's order
	owner     rules.OwnerDecision       // of a new Quote
	fields    []mapping.Assignment      // mapped Quote fields (E7, E8)
	oppFields []mapping.Assignment      // mapped fields of the Opportunity
	custom    map[string]map[string]any // each item's customFields, by item id
	lossy     []string
	// deferred are mapping problems, reported together with the
	// pricebook's so that one attempt names every field at fault.
	deferred rules.ValidationErrors
}

// verdict says why a quote cannot be written now.
type verdict struct {
	errs rules.ValidationErrors
	wait string // the original quote is not in Salesforce yet: retry later
}

func (v verdict) ok() bool { return len(v.errs) == 0 && v.wait == "" }

// check validates the quote against what was read and chooses the owner
// of a new Quote.
func check(snap *snapshot, m *mapping.QuoteMapping) (checked, verdict) {
	vctx, extra := validationContext(snap)
	q, err := rules.ValidateQuote(snap.ent, vctx)
	errs := append(asValidation(err), extra...)
	if len(errs) > 0 {
		return checked{}, verdict{errs: errs}
	}
	if e := currencyMismatch(snap, q); e != nil {
		return checked{}, verdict{errs: rules.ValidationErrors{e}}
	}
	c := checked{q: q, lines: rules.Flatten(q), paths: linePaths(q), custom: itemCustomFields(snap.ent)}
	if snap.quote == nil {
		d, err := ownerOf(snap, q)
		switch {
		case err != nil:
			return checked{}, verdict{errs: asValidation(err)}
		case d.Wait:
			return checked{}, verdict{wait: d.Reason}
		}
		c.owner = d
	}
	c.fields, c.lossy, c.deferred, err = mapQuote(m, snap.org, snap.ent)
	if err == nil {
		c.oppFields, err = mapOpportunity(m, snap.org, snap.ent)
	}
	if err != nil {
		return checked{}, verdict{errs: asValidation(err)}
	}
	return c, verdict{}
}

// validationContext is what rules.ValidateQuote needs from the reads, and
// the problems only the reads can show.
func validationContext(snap *snapshot) (rules.QuoteContext, rules.ValidationErrors) {
	vctx := rules.QuoteContext{AccountCRMID: snap.accountCRMID, AutoCreateOpportunity: snap.set.autoCreate,
		MultiCurrency: snap.org.multiCurrency}
	var extra rules.ValidationErrors
	if snap.billingAccountMissing {
		extra = append(extra, &rules.ValidationError{Field: "accountId",
			Message: fmt.Sprintf("billing account %s does not exist", snap.ent.Str("accountId"))})
	}
	vctx.AccountNotFound = snap.accountCRMID != "" && snap.account == nil
	if snap.link.conflict != nil {
		extra = append(extra, snap.link.conflict)
	}
	if snap.link.id != "" {
		// An Opportunity is linked; the auto-create setting no longer matters.
		vctx.AutoCreateOpportunity = true
		switch {
		case snap.opp != nil:
		case snap.link.fromState:
			vctx.AutoCreateOpportunity = snap.set.autoCreate // deleted since: a new one is made
		default:
			vctx.OpportunityNotFound = true
		}
	}
	return vctx, extra
}

// currencyMismatch: Salesforce keeps a quote in its Opportunity's currency.
func currencyMismatch(snap *snapshot, q billsync.Quote) *rules.ValidationError {
	if !snap.org.multiCurrency || snap.opp == nil {
		return nil
	}
	if cur := snap.opp.Str(fieldCurrency); cur != "" && cur != q.Currency {
		return &rules.ValidationError{Field: "currency", Message: fmt.Sprintf(
			"%s differs from the currency %s of Opportunity %s; Salesforce keeps a quote in its Opportunity's currency", q.Currency, cur, snap.opp.ID())}
	}
	return nil
}

// ownerOf applies E3 to what was read.
func ownerOf(snap *snapshot, q billsync.Quote) (rules.OwnerDecision, error) {
	in := rules.OwnerInput{QuoteID: q.ID, QuoteType: q.Type, OriginalQuoteID: q.OriginalQuoteID,
		OriginalQuoteOwnerID: snap.original.Str("OwnerId"),
		AccountID:            snap.account.ID(), AccountOwnerID: snap.account.Str("OwnerId")}
	if snap.opp != nil {
		in.OpportunityID, in.OpportunityOwnerID = snap.opp.ID(), snap.opp.Str("OwnerId")
	}
	return rules.QuoteOwner(in)
}

// mapQuote maps the Quote's fields (E7, E8) and lists every required
// mapped field the org lacks, on any of the three objects: a
// configuration error found before any write.
func mapQuote(m *mapping.QuoteMapping, org *orgShape, ent billsync.Entity) ([]mapping.Assignment, []string, rules.ValidationErrors, error) {
	fields, missing, err := mapping.Apply(m.Quote, ent, fieldSet(org.quote))
	if err != nil {
		return nil, nil, nil, err
	}
	fields = guarded(fields, m.Objects.Quote.ExternalID)
	var lossy []string
	for _, f := range fields {
		if f.Lossy {
			lossy = append(lossy, f.Billing)
		}
	}
	errs := missingErrors(m.Objects.Quote.SObject, missing)
	for _, x := range []struct {
		obj    string
		fields []mapping.QuoteField
		d      *billsync.SObjectDescribe
	}{{m.Objects.Line.SObject, m.Line, org.line}, {m.Objects.Opportunity.SObject, m.Opportunity, org.opp},
		{m.Objects.OppProduct.SObject, m.OppProduct, org.product}} {
		_, missing, _ := mapping.Apply(x.fields, billsync.Entity{}, fieldSet(x.d))
		errs = append(errs, missingErrors(x.obj, missing)...)
	}
	return fields, lossy, errs, nil
}

// mapOpportunity maps the quote's fields onto its Opportunity (those the
// org has; a missing required one is among mapQuote's errors).
func mapOpportunity(m *mapping.QuoteMapping, org *orgShape, ent billsync.Entity) ([]mapping.Assignment, error) {
	as, _, err := mapping.Apply(m.Opportunity, ent, fieldSet(org.opp))
	if err != nil {
		return nil, err
	}
	return guarded(as, m.Objects.Opportunity.ExternalID), nil
}

func missingErrors(object string, missing []mapping.Missing) rules.ValidationErrors {
	var errs rules.ValidationErrors
	for _, m := range missing {
		errs = append(errs, &rules.ValidationError{Field: m.Billing,
			Message: fmt.Sprintf("mapped to %s.%s, which the Salesforce org does not have", object, m.Salesforce)})
	}
	return errs
}

// linePaths gives each flattened line its billing JSON path, in Flatten's
// order, so a line's message names the exact item.
func linePaths(q billsync.Quote) []string {
	var out []string
	for i, o := range q.Offerings {
		for k := range o.Items {
			out = append(out, fmt.Sprintf("offerings[%d].items[%d]", i, k))
		}
	}
	return out
}

// pricesNeeded says what the pricing read must fetch: an existing Quote
// keeps its pricebook (Salesforce does not move a Quote with lines to
// another), and a line whose product is unchanged keeps its entry, so an
// edit that adds no product costs no pricing query.
func pricesNeeded(snap *snapshot, c checked) priceNeed {
	need := priceNeed{pricebookName: snap.set.pricebook}
	if snap.quote != nil {
		need.pricebookID = snap.quote.Str("Pricebook2Id")
	}
	known := knownEntries(snap.lines)
	var codes []string
	for _, l := range c.lines {
		if k, ok := known[l.ItemID]; ok && k.ProductCode == l.ProductCode {
			continue
		}
		codes = append(codes, l.ProductCode)
	}
	if wantsPlaceholder(snap, c.q) {
		codes = append(codes, snap.set.placeholder)
	}
	need.codes = uniqueNonEmpty(codes)
	return need
}

// knownEntries are the existing lines by item id.
func knownEntries(lines []current) map[string]current {
	out := map[string]current{}
	for _, x := range lines {
		if x.ItemID != "" && x.PricebookEntryID != "" {
			out[x.ItemID] = x
		}
	}
	return out
}

// wantsPlaceholder: the renewal placeholder will be added (E9), so its
// entry is needed.
func wantsPlaceholder(snap *snapshot, q billsync.Quote) bool {
	if !q.ManualRenewal || snap.set.placeholder == "" || snap.set.disableOpp {
		return false
	}
	return rules.RenewalPlaceholder(rules.PlaceholderInput{ManualRenewal: true, ProductCode: snap.set.placeholder,
		Existing: oppProducts(snap.products)}).Action == rules.PlaceholderAdd
}

// unpriced is a line left out because its product has no usable
// PricebookEntry (E10): the quote and its other lines still sync (F2).
type unpriced struct {
	itemID, path, code string
	err                error
}

func (u unpriced) message() string {
	return fmt.Sprintf("quote line %s (%s, product %s) not synced: %s", u.itemID, u.path, u.code, billsync.ErrorMessage(u.err))
}

// pricing is each line's PricebookEntry.
type pricing struct {
	pricebookID    string
	entries        map[string]string // item id → PricebookEntry id
	unpriced       []unpriced
	placeholder    string // the renewal placeholder's entry; "" when none
	placeholderErr error
}

func (p pricing) isUnpriced(itemID string) (unpriced, bool) {
	i := slices.IndexFunc(p.unpriced, func(u unpriced) bool { return u.itemID == itemID })
	if i < 0 {
		return unpriced{}, false
	}
	return p.unpriced[i], true
}

// price gives each line its entry: the one its existing line has when
// the product is unchanged, otherwise the catalog's. A line with none is
// left out and logged; only a missing pricebook fails the quote.
func price(snap *snapshot, c checked) (pricing, rules.ValidationErrors) {
	p := pricing{pricebookID: snap.pricebookID, entries: map[string]string{}}
	if p.pricebookID == "" {
		return p, rules.ValidationErrors{{Field: billsync.KeyQuotesPricebook,
			Message: fmt.Sprintf("pricebook %q does not exist in Salesforce", snap.set.pricebook)}}
	}
	known := knownEntries(snap.lines)
	entryFor := func(code string) (rules.PricebookEntry, error) {
		return snap.catalog.entryFor(snap.pricebookName, p.pricebookID, code, c.q.Currency, snap.org.multiCurrency)
	}
	for i, l := range c.lines {
		if k, ok := known[l.ItemID]; ok && k.ProductCode == l.ProductCode {
			p.entries[l.ItemID] = k.PricebookEntryID
			continue
		}
		pe, err := entryFor(l.ProductCode)
		if err != nil {
			p.unpriced = append(p.unpriced, unpriced{itemID: l.ItemID, path: c.paths[i], code: l.ProductCode, err: err})
			continue
		}
		p.entries[l.ItemID] = pe.ID
	}
	if wantsPlaceholder(snap, c.q) {
		if pe, err := entryFor(snap.set.placeholder); err != nil {
			p.placeholderErr = err
		} else {
			p.placeholder = pe.ID
		}
	}
	return p, nil
}

// asValidation turns a rules error into ValidationErrors.
func asValidation(err error) rules.ValidationErrors {
	if err == nil {
		return nil
	}
	var ves rules.ValidationErrors
	if errors.As(err, &ves) {
		return ves
	}
	var ve *rules.ValidationError
	if errors.As(err, &ve) {
		return rules.ValidationErrors{ve}
	}
	return rules.ValidationErrors{{Message: err.Error()}}
}

func dedupe(errs rules.ValidationErrors) rules.ValidationErrors {
	var out rules.ValidationErrors
	for _, e := range errs {
		if !slices.ContainsFunc(out, func(x *rules.ValidationError) bool { return x.Field == e.Field && x.Message == e.Message }) {
			out = append(out, e)
		}
	}
	return out
}

func uniqueNonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
