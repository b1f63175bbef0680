package quotesync

import (
	"context"
	"fmt"
	"slices"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// quoteJob is everything read and decided before the first write.
type quoteJob struct {
	ent  billsync.Entity
	q    billsync.Quote
	st   *billsync.SyncState
	qs   quoteSettings
	org  *quoteOrgShape
	hash string

	existing    billsync.SObject // the Salesforce Quote; nil when new
	accountID   string           // the Salesforce Account
	oppID       string           // "" until auto-created
	opp         billsync.SObject // nil when the Opportunity is to be created
	ownerID     string           // for a new Quote (and a new Opportunity)
	ownerSource rules.OwnerSource
	owners      quoteOwnerCandidates
	pricebookID string

	lines   []rules.Line
	entries map[string]rules.PricebookEntry // by item id
	// placeholder is the renewal placeholder's entry; placeholderErr says
	// why there is none (only an error if it must be added).
	placeholder    *rules.PricebookEntry
	placeholderErr error
	quoteFields    []mapping.Assignment
	lossy          []string

	existingLines []quoteExistingLine
	notes         []string
}

// prepareQuote does every read and all validation (E5) before any write.
// It reports false when it has already recorded the attempt's outcome.
func (s *Syncer) prepareQuote(ctx context.Context, a *attempt.Attempt, ent billsync.Entity, st *billsync.SyncState, qs quoteSettings) (*quoteJob, bool) {
	j := &quoteJob{ent: ent, st: st, qs: qs, entries: map[string]rules.PricebookEntry{}}
	sfID := ""
	if st != nil {
		sfID = st.SalesforceID
	}
	fail := func(err error) (*quoteJob, bool) {
		a.Fail(err, "", sfID)
		return nil, false
	}
	var err error
	if j.org, err = s.quoteOrgShape(ctx); err != nil {
		return fail(err)
	}
	var vctx rules.QuoteContext
	vctx.AutoCreateOpportunity = qs.autoCreate
	vctx.MultiCurrency = j.org.multiCurrency
	var extra rules.ValidationErrors

	// The billing account's link to a Salesforce Account.
	if accID := ent.Str("accountId"); accID != "" {
		acc, err := s.cfg.Billing.Get(ctx, billsync.ObjectAccount, accID)
		switch {
		case notFound(err):
			extra = append(extra, &rules.ValidationError{Field: "accountId", Message: fmt.Sprintf("billing account %s does not exist", accID)})
		case err != nil:
			return fail(fmt.Errorf("reading billing account %s: %w", accID, err))
		default:
			vctx.AccountCRMID = acc.Str("crmAccountId")
		}
	}
	if id := vctx.AccountCRMID; id != "" {
		if !sfIDPattern.MatchString(id) {
			vctx.AccountNotFound = true
		} else {
			row, err := s.quoteQueryOne(ctx, fmt.Sprintf("SELECT Id, OwnerId FROM Account WHERE Id = '%s'", id))
			if err != nil {
				return fail(err)
			}
			if row == nil {
				vctx.AccountNotFound = true
			} else {
				j.accountID = row.ID()
				j.owners.account = row.Str("OwnerId")
			}
		}
	}

	// The Quote itself and, for an amendment or renewal, its original.
	ids := []string{ent.ID()}
	typ, orig := ent.Str("type"), ent.Str("originalQuoteId")
	isFollowOn := (typ == billsync.QuoteAmendment || typ == billsync.QuoteRenewal) && orig != "" && orig != ent.ID()
	if isFollowOn {
		ids = append(ids, orig)
	}
	rows, err := s.cfg.CRM.Query(ctx, fmt.Sprintf("SELECT Id, OwnerId, OpportunityId, Pricebook2Id, %s FROM Quote WHERE %s IN %s",
		fieldQuoteExtID, fieldQuoteExtID, quoteSOQLList(ids)))
	if err != nil {
		return fail(fmt.Errorf("reading quotes: %w", err))
	}
	for _, r := range rows {
		switch r.Str(fieldQuoteExtID) {
		case ent.ID():
			j.existing = r
			sfID = r.ID()
		case orig:
			if isFollowOn {
				j.owners.original = r.Str("OwnerId")
			}
		}
	}

	// The Opportunity: the billing link; else the one the Salesforce Quote
	// already belongs to (Quote.OpportunityId cannot change); else one an
	// earlier attempt created before it could link it.
	billingOpp := ent.Str("crmOpportunityId")
	j.oppID = billingOpp
	if j.existing != nil {
		cur := j.existing.Str("OpportunityId")
		switch {
		case billingOpp == "":
			j.oppID = cur
		case !quoteSameSFID(billingOpp, cur):
			extra = append(extra, &rules.ValidationError{Field: "crmOpportunityId", Message: fmt.Sprintf(
				"the Salesforce Quote %s belongs to Opportunity %s and a Quote cannot move to another Opportunity (%s)", j.existing.ID(), cur, billingOpp)})
		}
	}
	fromState := false
	if j.oppID == "" && st != nil && st.Agreed[agreedOpportunity] != "" {
		j.oppID, fromState = st.Agreed[agreedOpportunity], true
	}
	if j.oppID != "" {
		vctx.AutoCreateOpportunity = true // an Opportunity is linked; the setting no longer matters
		if !sfIDPattern.MatchString(j.oppID) {
			vctx.OpportunityNotFound = true
		} else {
			opp, err := s.quoteQueryOne(ctx, fmt.Sprintf("SELECT Id, OwnerId, StageName, Pricebook2Id, AccountId%s FROM Opportunity WHERE Id = '%s'",
				j.currencyField(), j.oppID))
			if err != nil {
				return fail(err)
			}
			switch {
			case opp != nil:
				j.opp = opp
				j.owners.opp = opp.Str("OwnerId")
			case fromState:
				j.oppID = "" // deleted since: make a new one
				vctx.AutoCreateOpportunity = qs.autoCreate
			default:
				vctx.OpportunityNotFound = true
			}
		}
	}

	q, verr := rules.ValidateQuote(ent, vctx)
	errs := append(rules.ValidationErrors(nil), extra...)
	if verr != nil {
		errs = append(asValidation(verr, ""), errs...)
	}
	if len(errs) > 0 {
		invalidQuote(a, errs, sfID)
		return nil, false
	}
	j.q = q
	if j.org.multiCurrency && j.opp != nil && j.opp.Str(fieldCurrency) != "" && j.opp.Str(fieldCurrency) != q.Currency {
		invalidQuote(a, rules.ValidationErrors{{Field: "currency", Message: fmt.Sprintf(
			"%s differs from the currency %s of Opportunity %s; Salesforce keeps a quote in its Opportunity's currency", q.Currency, j.opp.Str(fieldCurrency), j.oppID)}}, sfID)
		return nil, false
	}

	// E3: the owner of a new Quote (and of an Opportunity made for it).
	if j.existing == nil {
		o := j.owners
		in := rules.OwnerInput{QuoteID: q.ID, QuoteType: q.Type, OriginalQuoteID: q.OriginalQuoteID, OriginalQuoteOwnerID: o.original,
			AccountID: j.accountID, AccountOwnerID: o.account}
		if j.opp != nil {
			in.OpportunityID, in.OpportunityOwnerID = j.oppID, o.opp
		}
		d, err := rules.QuoteOwner(in)
		if err != nil {
			invalidQuote(a, asValidation(err, ""), sfID)
			return nil, false
		}
		if d.Wait {
			a.Wait(rules.ReasonOriginalQuoteMissing, d.Reason, "", sfID)
			return nil, false
		}
		j.ownerID, j.ownerSource = d.OwnerID, d.Source
	}

	// Mapped quote fields (E7, E8); a required one the org lacks is a
	// configuration error found before any write.
	var missing []mapping.Missing
	j.quoteFields, missing, err = mapping.Apply(s.quoteMapping().Quote, ent, quoteFieldSet(j.org.quote))
	if err != nil {
		invalidQuote(a, asValidation(err, ""), sfID)
		return nil, false
	}
	for _, f := range j.quoteFields {
		if f.Lossy {
			j.lossy = append(j.lossy, f.Billing)
		}
	}
	for _, m := range missing {
		errs = append(errs, &rules.ValidationError{Field: m.Billing, Message: fmt.Sprintf("mapped to Quote.%s, which the Salesforce org does not have", m.Salesforce)})
	}
	for _, x := range []struct {
		obj    string
		fields []mapping.QuoteField
		d      *billsync.SObjectDescribe
	}{{sobjQuoteLine, s.quoteMapping().Line, j.org.line}, {sobjOppProduct, s.quoteMapping().OppProduct, j.org.oppProduct}} {
		_, missing, _ := mapping.Apply(x.fields, billsync.Entity{}, quoteFieldSet(x.d))
		for _, m := range missing {
			errs = append(errs, &rules.ValidationError{Field: m.Billing, Message: fmt.Sprintf("mapped to %s.%s, which the Salesforce org does not have", x.obj, m.Salesforce)})
		}
	}

	// E10: one PricebookEntry per line, from two batched queries.
	j.lines = rules.Flatten(q)
	paths := quoteLinePaths(q)
	if j.pricebookID, err = s.quotePricebookID(ctx, qs.pricebook); err != nil {
		return fail(err)
	}
	codes := make([]string, 0, len(j.lines)+1)
	for _, l := range j.lines {
		codes = append(codes, l.ProductCode)
	}
	wantPlaceholder := q.ManualRenewal && qs.placeholder != "" && !qs.disableOpp
	if wantPlaceholder {
		codes = append(codes, qs.placeholder)
	}
	cat, err := s.quoteReadCatalog(ctx, codes)
	if err != nil {
		return fail(err)
	}
	if j.pricebookID == "" {
		errs = append(errs, &rules.ValidationError{Field: billsync.KeyQuotesPricebook,
			Message: fmt.Sprintf("pricebook %q does not exist in Salesforce", qs.pricebook)})
	} else {
		for i, l := range j.lines {
			pe, err := cat.entryFor(qs.pricebook, j.pricebookID, l.ProductCode, q.Currency, j.org.multiCurrency)
			if err != nil {
				errs = append(errs, asValidation(err, paths[i])...)
				continue
			}
			j.entries[l.ItemID] = pe
		}
		if wantPlaceholder {
			pe, err := cat.entryFor(qs.pricebook, j.pricebookID, qs.placeholder, q.Currency, j.org.multiCurrency)
			if err != nil {
				j.placeholderErr = err
			} else {
				j.placeholder = &pe
			}
		}
	}
	if len(errs) > 0 {
		invalidQuote(a, quoteDedupeErrs(errs), sfID)
		return nil, false
	}

	if j.existing != nil {
		if j.existingLines, err = s.readQuoteLines(ctx, j.existing.ID()); err != nil {
			return fail(err)
		}
	}
	return j, true
}

// quoteOwnerCandidates are the OwnerIds E3 chooses from.
type quoteOwnerCandidates struct{ opp, original, account string }

func (j *quoteJob) currencyField() string {
	if j.org.multiCurrency {
		return ", " + fieldCurrency
	}
	return ""
}

// quoteLinePaths gives each flattened line its billing JSON path, in Flatten's
// order, so a line's error names the exact item.
func quoteLinePaths(q billsync.Quote) []string {
	var out []string
	for i, o := range q.Offerings {
		for k := range o.Items {
			out = append(out, fmt.Sprintf("offerings[%d].items[%d]", i, k))
		}
	}
	return out
}

func quoteDedupeErrs(errs rules.ValidationErrors) rules.ValidationErrors {
	var out rules.ValidationErrors
	for _, e := range errs {
		if !slices.ContainsFunc(out, func(x *rules.ValidationError) bool { return x.Field == e.Field && x.Message == e.Message }) {
			out = append(out, e)
		}
	}
	return out
}

// quoteSameSFID compares Salesforce ids, 15- or 18-character.
func quoteSameSFID(a, b string) bool {
	if len(a) >= 15 && len(b) >= 15 {
		return a[:15] == b[:15]
	}
	return a == b
}
