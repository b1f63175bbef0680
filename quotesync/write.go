package quotesync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// defaultCloseDays is how far out an auto-created Opportunity closes when
// the quote has no expiry date (E6 needs a close date; Salesforce requires
// one).
const defaultCloseDays = 30

// defaultStage is the stage of an auto-created Opportunity whose quote
// status the stage mapping does not name (StageName is required).
const defaultStage = "Prospecting"

// writeQuote does the writes of one quote sync, in dependency order:
// Opportunity, Quote, quote lines, Opportunity products and placeholder,
// stage; then the Opportunity id goes back to billing and the state is
// saved.
func (s *Syncer) writeQuote(ctx context.Context, a *attempt.Attempt, j *quoteJob) {
	q := j.q
	var summary []string
	sfID := ""
	if j.existing != nil {
		sfID = j.existing.ID()
	}

	oppCreated := false
	if j.oppID == "" {
		if err := s.createOpportunity(ctx, a, j); err != nil {
			a.FailOp(err, "create", "", sfID)
			return
		}
		oppCreated = true
		summary = append(summary, "Opportunity "+j.oppID+" created")
	}

	rec := billsync.SObject{
		fieldQuoteExtID:         q.ID,
		"Name":                  rules.QuoteName(q.Description, q.ID, j.org.quoteNameLen),
		mapping.FieldLastSystem: mapping.LastSystemBilling,
	}
	for _, f := range j.quoteFields {
		rec[f.Salesforce] = f.Value
	}
	if j.existing == nil {
		rec["OpportunityId"] = j.oppID
		rec["OwnerId"] = j.ownerID
		rec["Pricebook2Id"] = j.pricebookID
		if j.org.multiCurrency && quoteWritable(j.org.quote, fieldCurrency, true) {
			rec[fieldCurrency] = q.Currency
		}
		summary = append(summary, "owner from "+string(j.ownerSource))
	} else if j.existing.Str("Pricebook2Id") == "" {
		rec["Pricebook2Id"] = j.pricebookID
	}
	mapping.SyncStatusFields(rec, "success", "", s.now())
	res, err := s.cfg.CRM.Upsert(ctx, sobjQuote, fieldQuoteExtID, []billsync.SObject{rec})
	if err == nil {
		err = quoteOneResult(res)
	}
	if err != nil {
		if j.existing != nil {
			s.markQuoteFailed(ctx, j.existing.ID(), err)
		}
		s.saveQuoteState(ctx, j, sfID, false)
		a.FailOp(err, "upsert", "", sfID)
		return
	}
	sfID = res[0].ID
	op := "update"
	if res[0].Created {
		op = "create"
	}

	lineSummary, lineErr := s.syncQuoteLines(ctx, a, j, sfID)
	summary = append(summary, lineSummary)

	oppSummary, oppErr := s.syncOppProducts(ctx, a, j, oppCreated)
	if oppSummary != "" {
		summary = append(summary, oppSummary)
	}

	// E9: the stage follows the quote's status; a new Opportunity was
	// created at its stage already.
	if !oppCreated && j.opp != nil {
		sc := rules.OpportunityStage(q.Status, j.qs.stages, j.opp.Str("StageName"))
		if sc.Change {
			if err := s.quoteUpdateOne(ctx, sobjOpportunity, billsync.SObject{"Id": j.oppID, "StageName": sc.Stage}); err != nil {
				s.saveQuoteState(ctx, j, sfID, false)
				a.FailOp(fmt.Errorf("moving Opportunity %s to stage %q: %w", j.oppID, sc.Stage, err), "update", "", sfID)
				return
			}
			summary = append(summary, fmt.Sprintf("Opportunity stage → %s", sc.Stage))
		}
	}

	if err := errors.Join(lineErr, oppErr); err != nil {
		// A failed line leaves the quote incomplete: the state keeps no
		// hash or version, so a retry or a replayed dead letter syncs the
		// quote again in full rather than being skipped as stale or echo.
		s.markQuoteFailed(ctx, sfID, err)
		s.saveQuoteState(ctx, j, sfID, false)
		a.FailOp(err, op, "", sfID)
		return
	}

	s.writeBackOpportunity(ctx, a, j, sfID)
	if err := s.saveQuoteState(ctx, j, sfID, true); err != nil {
		// Salesforce has every write; a retry repeats them idempotently.
		a.Fail(err, "", sfID)
		return
	}
	msg := strings.Join(quoteNonEmpty(summary), "; ")
	if len(j.lossy) > 0 {
		msg += "; rounded to the Salesforce field's scale, value changed: " + strings.Join(j.lossy, ", ")
	}
	a.Finish(billsync.OutcomeSuccess, "", op, "", msg, "", sfID)
}

// createOpportunity makes the quote's Opportunity (E6) and records its id
// in the sync state at once, so a retry after a later failure links the
// same Opportunity instead of making a second one.
func (s *Syncer) createOpportunity(ctx context.Context, a *attempt.Attempt, j *quoteJob) error {
	q := j.q
	stage := strings.TrimSpace(j.qs.stages[q.Status])
	if stage == "" {
		stage = defaultStage
	}
	closeDate := billsync.DateOf(s.now().AddDate(0, 0, defaultCloseDays))
	if q.ExpiresAt != nil {
		closeDate = billsync.DateOf(q.ExpiresAt.UTC())
	}
	rec := billsync.SObject{
		"Name":         rules.QuoteName(q.Description, q.ID, j.org.oppNameLen),
		"AccountId":    j.accountID,
		"OwnerId":      j.ownerID,
		"StageName":    stage,
		"CloseDate":    closeDate.String(),
		"Pricebook2Id": j.pricebookID,
	}
	if j.org.multiCurrency && quoteWritable(j.org.opp, fieldCurrency, true) {
		rec[fieldCurrency] = q.Currency
	}
	// Upsert by the quote's id where the org has the field (the SFDX
	// source adds it): a create whose answer was lost is then found again
	// by the retry instead of made twice.
	var res []billsync.SaveResult
	var err error
	if _, ok := j.org.opp.Field(fieldOppQuoteExtID); ok {
		rec[fieldOppQuoteExtID] = q.ID
		res, err = s.cfg.CRM.Upsert(ctx, sobjOpportunity, fieldOppQuoteExtID, []billsync.SObject{rec})
	} else {
		res, err = s.cfg.CRM.Create(ctx, sobjOpportunity, []billsync.SObject{rec})
	}
	if err == nil {
		err = quoteOneResult(res)
	}
	if err != nil {
		return fmt.Errorf("creating the quote's Opportunity: %w", err)
	}
	j.oppID = res[0].ID
	rec["Id"] = j.oppID
	j.opp = rec
	sfID := ""
	if j.existing != nil {
		sfID = j.existing.ID()
	}
	if err := s.saveQuoteState(ctx, j, sfID, false); err != nil {
		return err
	}
	a.Note(a.Entry(billsync.ObjectQuote, q.ID, j.oppID, "create", billsync.OutcomeSuccess, "", "", "Opportunity created for the quote (E6)"))
	return nil
}

// syncQuoteLines makes the Quote's lines match the quote (E2, E10, E11):
// lines gone from the quote are deleted; a line whose product (hence
// PricebookEntry, which cannot change on a line) changed is replaced; the
// rest are upserted by BillingQuoteItemId__c in one collections call per
// 200. Lines without BillingQuoteItemId__c were added by a person and are
// left alone. Each failed line gets its own log entry; the error returned
// summarises them.
func (s *Syncer) syncQuoteLines(ctx context.Context, a *attempt.Attempt, j *quoteJob, quoteID string) (string, error) {
	current := map[string]bool{}
	for _, l := range j.lines {
		current[l.ItemID] = true
	}
	byItem := map[string]quoteExistingLine{}
	var dels []string
	var delWhy []string
	for _, x := range j.existingLines {
		switch {
		case x.ItemID == "":
		case !current[x.ItemID]:
			dels, delWhy = append(dels, x.ID), append(delWhy, x.ItemID+" is no longer on the quote")
		case !quoteSameSFID(x.PricebookEntryID, j.entries[x.ItemID].ID):
			dels, delWhy = append(dels, x.ID), append(delWhy, x.ItemID+" changed product")
		default:
			byItem[x.ItemID] = x
		}
	}
	var errs []error
	if len(dels) > 0 {
		errs = append(errs, s.quoteDeleteAll(ctx, a, j, dels, delWhy, "quote line")...)
	}
	recs := make([]billsync.SObject, 0, len(j.lines))
	created := 0
	for _, l := range j.lines {
		rec, err := s.quoteLineRecord(j, l, s.quoteMapping().Line, j.org.line)
		if err != nil {
			return "", err
		}
		if _, ok := byItem[l.ItemID]; !ok {
			rec["QuoteId"] = quoteID
			rec["PricebookEntryId"] = j.entries[l.ItemID].ID
			if j.org.multiCurrency && quoteWritable(j.org.line, fieldCurrency, true) {
				rec[fieldCurrency] = j.q.Currency
			}
			created++
		}
		mapping.SyncStatusFields(rec, "success", "", s.now())
		rec[mapping.FieldLastSystem] = mapping.LastSystemBilling
		recs = append(recs, rec)
	}
	if len(recs) > 0 {
		res, err := s.cfg.CRM.Upsert(ctx, sobjQuoteLine, fieldLineExtID, recs)
		if err != nil {
			return "", fmt.Errorf("upserting quote lines: %w", err)
		}
		errs = append(errs, s.quoteNoteFailures(a, j, "quote line", recs, res)...)
	}
	msg := fmt.Sprintf("%d lines (%d new", len(j.lines), created)
	if len(dels) > 0 {
		msg += fmt.Sprintf(", %d removed", len(dels))
	}
	msg += ")"
	return msg, quoteSummarise("quote lines", len(recs)+len(dels), errs)
}

// quoteLineRecord is a line's mapped fields, keyed by BillingQuoteItemId__c.
func (s *Syncer) quoteLineRecord(j *quoteJob, l rules.Line, fields []mapping.QuoteField, d *billsync.SObjectDescribe) (billsync.SObject, error) {
	src := billsync.Entity{
		"itemId": l.ItemID, "offeringId": l.OfferingID, "offeringName": l.OfferingName, "productCode": l.ProductCode,
		"productName": l.ProductName, "productType": l.ProductType, "quantity": l.Quantity.String(),
		"unitPrice": l.UnitPrice.String(), "amendmentStatus": l.AmendmentStatus,
	}
	as, _, err := mapping.Apply(fields, src, quoteFieldSet(d))
	if err != nil {
		return nil, err
	}
	rec := billsync.SObject{fieldLineExtID: l.ItemID}
	for _, f := range as {
		rec[f.Salesforce] = f.Value
		if f.Lossy {
			j.lossy = append(j.lossy, "line "+l.ItemID+" "+f.Billing)
		}
	}
	return rec, nil
}

// syncOppProducts applies F1–F5 and E12 through rules.PlanOppProducts,
// and the renewal placeholder of E9: one delete call, one upsert call per
// 200 products with partial success (a failing product is logged with
// Salesforce's error, the others land), one create for a placeholder.
// Only transient failures are returned: a permanent one is the line's,
// logged, and retrying the quote would not help it.
func (s *Syncer) syncOppProducts(ctx context.Context, a *attempt.Attempt, j *quoteJob, oppCreated bool) (string, error) {
	q := j.q
	if j.qs.disableOpp {
		return "Opportunity products left alone (" + billsync.KeyQuotesDisableOppProductSync + ")", nil
	}
	if pb := j.opp.Str("Pricebook2Id"); pb != "" && !quoteSameSFID(pb, j.pricebookID) {
		a.Note(a.Entry(billsync.ObjectQuote, q.ID, j.oppID, "upsert", billsync.OutcomeFailed, rules.ReasonOppSyncDisabled, "FIELD_INTEGRITY_EXCEPTION",
			fmt.Sprintf("Opportunity %s uses pricebook %s but quotes use %q (%s); its products were not synced", j.oppID, pb, j.qs.pricebook, j.pricebookID)))
		return "", nil
	}
	var existing []quoteExistingLine
	if !oppCreated {
		var err error
		if existing, err = s.readOppProducts(ctx, j.oppID); err != nil {
			return "", err
		}
	}
	// Products of this quote: those whose item is on it now or had a line
	// on the Salesforce Quote before this sync. Another quote's products
	// on the same Opportunity are not this plan's to delete.
	mine := map[string]bool{}
	overrides := map[string]string{}
	for _, x := range j.existingLines {
		if x.ItemID != "" {
			mine[x.ItemID] = true
			overrides[x.ItemID] = x.Override
		}
	}
	for _, l := range j.lines {
		mine[l.ItemID] = true
	}
	if j.st != nil {
		for _, id := range strings.Split(j.st.Agreed[agreedItems], ",") {
			if id != "" {
				mine[id] = true
			}
		}
	}
	var all, ours []rules.OppProduct
	byItem := map[string]quoteExistingLine{}
	for _, x := range existing {
		p := rules.OppProduct{ID: x.ID, BillingQuoteItemID: x.ItemID, ProductCode: x.ProductCode}
		all = append(all, p)
		if x.ItemID == "" || mine[x.ItemID] {
			ours = append(ours, p)
			if x.ItemID != "" {
				byItem[x.ItemID] = x
			}
		}
	}
	plan := rules.PlanOppProducts(rules.OppProductInput{
		QuoteStatus: q.Status, AllowedStatuses: j.qs.allowed, DisableOppProductSync: j.qs.disableOpp,
		Lines: rules.WithOverrides(j.lines, overrides), Existing: ours,
	})
	var dels, why []string
	for _, d := range plan.Deletes {
		dels, why = append(dels, d.ID), append(why, d.BillingQuoteItemID+": "+d.Reason)
	}
	var recs []billsync.SObject
	for _, l := range plan.Upserts {
		rec, err := s.quoteLineRecord(j, l, s.quoteMapping().OppProduct, j.org.oppProduct)
		if err != nil {
			return "", err
		}
		pe := j.entries[l.ItemID].ID
		if x, ok := byItem[l.ItemID]; ok && !quoteSameSFID(x.PricebookEntryID, pe) {
			dels, why = append(dels, x.ID), append(why, l.ItemID+": changed product")
			delete(byItem, l.ItemID)
		}
		if _, ok := byItem[l.ItemID]; !ok {
			rec["OpportunityId"] = j.oppID
			rec["PricebookEntryId"] = pe
			if j.org.multiCurrency && quoteWritable(j.org.oppProduct, fieldCurrency, true) {
				rec[fieldCurrency] = q.Currency
			}
		}
		recs = append(recs, rec)
	}
	ph := rules.RenewalPlaceholder(rules.PlaceholderInput{ManualRenewal: q.ManualRenewal, ProductCode: j.qs.placeholder, Existing: all})
	for _, p := range ph.Remove {
		dels, why = append(dels, p.ID), append(why, "renewal placeholder: "+ph.Reason)
	}

	var errs []error
	if len(dels) > 0 {
		errs = append(errs, s.quoteDeleteAll(ctx, a, j, dels, why, "Opportunity product")...)
	}
	if len(recs) > 0 {
		res, err := s.cfg.CRM.Upsert(ctx, sobjOppProduct, fieldLineExtID, recs)
		if err != nil {
			return "", fmt.Errorf("upserting Opportunity products: %w", err)
		}
		errs = append(errs, s.quoteNoteFailures(a, j, "Opportunity product", recs, res)...)
	}
	phMsg := ""
	if ph.Action == rules.PlaceholderAdd {
		if j.placeholder == nil {
			err := j.placeholderErr
			if err == nil {
				err = billsync.Errorf(billsync.EINVALID, "no PricebookEntry for %q", j.qs.placeholder)
			}
			a.Note(a.Entry(billsync.ObjectQuote, q.ID, j.oppID, "create", billsync.OutcomeFailed, rules.ReasonPlaceholderAdd, billsync.ErrorCode(err),
				fmt.Sprintf("renewal placeholder %q could not be added (%s): %s", j.qs.placeholder, billsync.KeyQuotesRenewalPlaceholder, err)))
		} else {
			rec := billsync.SObject{"OpportunityId": j.oppID, "PricebookEntryId": j.placeholder.ID, "Quantity": 1, "UnitPrice": 0}
			if j.org.multiCurrency && quoteWritable(j.org.oppProduct, fieldCurrency, true) {
				rec[fieldCurrency] = q.Currency
			}
			res, err := s.cfg.CRM.Create(ctx, sobjOppProduct, []billsync.SObject{rec})
			if err != nil {
				return "", fmt.Errorf("adding the renewal placeholder: %w", err)
			}
			errs = append(errs, s.quoteNoteFailures(a, j, "renewal placeholder", []billsync.SObject{rec}, res)...)
			phMsg = "renewal placeholder added"
		}
	} else if ph.Action == rules.PlaceholderRemove {
		phMsg = "renewal placeholder removed"
	}

	var transient []error
	for _, err := range errs {
		if billsync.IsTransient(err) {
			transient = append(transient, err)
		}
	}
	msg := fmt.Sprintf("%d Opportunity products upserted", len(recs))
	if len(plan.Deletes) > 0 {
		msg += fmt.Sprintf(", %d removed", len(plan.Deletes))
	}
	if len(plan.Skipped) > 0 {
		msg += fmt.Sprintf(", %d lines not eligible", len(plan.Skipped))
	}
	if n := len(errs) - len(transient); n > 0 {
		msg += fmt.Sprintf(", %d failed", n)
	}
	if phMsg != "" {
		msg += "; " + phMsg
	}
	return msg, quoteSummarise("Opportunity products", len(recs)+len(dels), transient)
}

// quoteDeleteAll deletes records by id; ENTITY_IS_DELETED counts as done.
func (s *Syncer) quoteDeleteAll(ctx context.Context, a *attempt.Attempt, j *quoteJob, ids, why []string, what string) []error {
	res, err := s.cfg.CRM.Delete(ctx, ids)
	if err != nil {
		return []error{fmt.Errorf("deleting %ss: %w", what, err)}
	}
	var errs []error
	for i, r := range res {
		if i >= len(ids) {
			break
		}
		if err := r.Err(); err != nil && billsync.RemoteCode(err) != "ENTITY_IS_DELETED" {
			a.Note(a.Entry(billsync.ObjectQuote, j.q.ID, ids[i], "delete", billsync.OutcomeFailed, billsync.ReasonRemoteError,
				billsync.RemoteCode(err), fmt.Sprintf("%s %s (%s): %s", what, ids[i], why[i], billsync.ErrorMessage(err))))
			errs = append(errs, err)
		}
	}
	return errs
}

// quoteNoteFailures logs each record Salesforce refused, with its own error
// code and message (F2).
func (s *Syncer) quoteNoteFailures(a *attempt.Attempt, j *quoteJob, what string, recs []billsync.SObject, res []billsync.SaveResult) []error {
	var errs []error
	for i, r := range res {
		if i >= len(recs) {
			break
		}
		err := r.Err()
		if err == nil {
			continue
		}
		item := recs[i].Str(fieldLineExtID)
		label := what
		if item != "" {
			label += " " + item
		}
		a.Note(a.Entry(billsync.ObjectQuote, j.q.ID, r.ID, "upsert", billsync.OutcomeFailed, billsync.ReasonRemoteError,
			billsync.RemoteCode(err), fmt.Sprintf("%s: %s", label, billsync.ErrorMessage(err))))
		errs = append(errs, err)
	}
	if len(res) < len(recs) {
		errs = append(errs, billsync.Errorf(billsync.EINTERNAL, "%s write returned %d results for %d records", what, len(res), len(recs)))
	}
	return errs
}

// quoteSummarise folds per-record failures into one error for the change's own
// log entry, transient when any of them is (so the quote is retried).
func quoteSummarise(what string, total int, errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	first := errs[0]
	transient := false
	for _, err := range errs {
		if billsync.IsTransient(err) {
			transient, first = true, err
			break
		}
	}
	re := &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Transient: transient,
		Code: billsync.RemoteCode(first), Message: fmt.Sprintf("%d of %d %s failed; first: %s", len(errs), total, what, billsync.ErrorMessage(first))}
	return re
}

// writeBackOpportunity records the Opportunity on the billing quote
// (crmOpportunityId) so that the next event finds it. The webhook this
// write causes is recognised as an echo by the content hash saved with the
// state. A failure is logged and not fatal: the Salesforce Quote keeps the
// link, and the next change of the quote writes it back again.
func (s *Syncer) writeBackOpportunity(ctx context.Context, a *attempt.Attempt, j *quoteJob, sfID string) {
	if quoteSameSFID(j.ent.Str("crmOpportunityId"), j.oppID) {
		return
	}
	upd := j.ent.Clone()
	upd["crmOpportunityId"] = j.oppID
	got, err := s.cfg.Billing.Update(ctx, billsync.ObjectQuote, upd)
	if err != nil {
		a.Note(a.Entry(billsync.ObjectQuote, j.q.ID, j.oppID, "update", billsync.OutcomeFailed, billsync.ReasonRemoteError, billsync.RemoteCode(err),
			fmt.Sprintf("could not write crmOpportunityId %s back to the billing quote (the next change of the quote retries): %s", j.oppID, billsync.ErrorMessage(err))))
		return
	}
	j.hash = quoteHash(got)
	a.Note(a.Entry(billsync.ObjectQuote, j.q.ID, j.oppID, "update", billsync.OutcomeSuccess, "", "", "crmOpportunityId written back to the billing quote"))
}

// saveQuoteState records the quote's state. complete is false while the
// quote is not fully applied: the previous version and no hash are kept,
// so nothing later is skipped as stale or echo because of it, but the
// Opportunity link is remembered.
func (s *Syncer) saveQuoteState(ctx context.Context, j *quoteJob, sfID string, complete bool) error {
	ns := &billsync.SyncState{Object: billsync.ObjectQuote, BillingID: j.ent.ID(), SalesforceID: sfID, Agreed: map[string]string{}, UpdatedAt: s.now()}
	if j.st != nil {
		ns.BillingVersion = j.st.BillingVersion
		if ns.SalesforceID == "" {
			ns.SalesforceID = j.st.SalesforceID
		}
	}
	if j.oppID != "" {
		ns.Agreed[agreedOpportunity] = j.oppID
	}
	// The items this quote's products may belong to: after a complete
	// sync the current ones; while incomplete, also every item synced
	// before, whose products may still await deletion.
	items := map[string]bool{}
	for _, l := range j.lines {
		items[l.ItemID] = true
	}
	if !complete {
		for _, x := range j.existingLines {
			items[x.ItemID] = true
		}
		if j.st != nil {
			for _, id := range strings.Split(j.st.Agreed[agreedItems], ",") {
				items[id] = true
			}
		}
	}
	delete(items, "")
	ns.Agreed[agreedItems] = strings.Join(slices.Sorted(maps.Keys(items)), ",")
	if complete {
		ns.BillingVersion = j.ent.Version()
		ns.Agreed[agreedHash] = j.hash
	}
	err := s.cfg.State.PutSyncState(ctx, ns)
	if err != nil {
		s.log.Warn("could not save quote sync state", "quote", j.ent.ID(), "err", err)
	}
	return err
}

func (s *Syncer) markQuoteFailed(ctx context.Context, sfID string, cause error) {
	if sfID == "" {
		return
	}
	rec := billsync.SObject{"Id": sfID, mapping.FieldLastSystem: mapping.LastSystemBilling}
	mapping.SyncStatusFields(rec, "failed", cause.Error(), s.now())
	if err := s.quoteUpdateOne(ctx, sobjQuote, rec); err != nil {
		s.log.Warn("could not mark the Salesforce Quote as failed", "id", sfID, "err", err)
	}
}

func quoteOneResult(res []billsync.SaveResult) error {
	if len(res) != 1 {
		return billsync.Errorf(billsync.EINTERNAL, "write returned %d results for 1 record", len(res))
	}
	return res[0].Err()
}

func quoteNonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
