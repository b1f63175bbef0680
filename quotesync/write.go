package quotesync

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// applied is what the writes of one plan did so far.
type applied struct {
	sfID    string // the Salesforce Quote, once known
	oppID   string
	op      string   // create or update, of the Quote
	summary []string // for the change's own log entry
	partial []string // what did not land, though the quote did
	// linkKept: billing refused to hold the Opportunity link (a
	// finalized Stripe quote takes no writes), so billsync's state is
	// where it lives.
	linkKept bool
}

// apply writes the plan in dependency order — Opportunity, Quote, lines,
// Opportunity products and placeholder, stage — then writes the
// Opportunity id back to billing and saves the state.
func (s *Syncer) apply(ctx context.Context, a *attempt.Attempt, snap *snapshot, p *plan, hash string) {
	res := &applied{sfID: snap.sfID(), oppID: p.oppID}
	if p.newOpp != nil {
		if err := s.createOpportunity(ctx, a, snap, p, res); err != nil {
			a.FailOp(err, "create", "", res.sfID)
			return
		}
	} else if err := s.recordItems(ctx, snap, p, res); err != nil {
		a.Fail(err, "", res.sfID)
		return
	}
	if err := s.upsertQuote(ctx, p, res); err != nil {
		s.abandon(ctx, a, snap, p, res, err, "upsert", snap.quote != nil)
		return
	}
	lineErr := s.writeLines(ctx, a, p, res)
	productErr := s.writeProducts(ctx, a, p, res)
	if err := s.moveStage(ctx, p, res); err != nil {
		s.abandon(ctx, a, snap, p, res, err, "update", false)
		return
	}
	if err := errors.Join(lineErr, productErr); err != nil {
		// A failed line leaves the quote incomplete: the state keeps no
		// hash or version, so a retry or a replayed dead letter syncs the
		// quote again in full rather than being skipped as stale or echo.
		s.abandon(ctx, a, snap, p, res, err, res.op, true)
		return
	}
	s.notePartial(ctx, p, res)
	s.writeBack(ctx, a, snap, res, &hash)
	if err := s.saveState(ctx, snap, p, res, hash, true); err != nil {
		// Salesforce has every write; a retry repeats them idempotently.
		a.Fail(err, "", res.sfID)
		return
	}
	s.finish(a, p, res)
}

// recordItems saves, before the first write, the items whose lines and
// products this attempt may write and the state does not know yet. The
// Opportunity products of an item are deleted only when the quote owns
// them (ownProducts); should billsync stop after a product is written and
// before the attempt's own state is saved, with its line not written or
// already deleted, the next change would otherwise not know the product as
// this quote's and leave it behind when the item is removed. The save is
// an incomplete one: the previous version and no hash, as for a failed
// attempt. A new Opportunity's creation saves the items already.
func (s *Syncer) recordItems(ctx context.Context, snap *snapshot, p *plan, res *applied) error {
	known := map[string]bool{}
	if snap.st != nil {
		for _, id := range strings.Split(snap.st.Agreed[agreedItems], ",") {
			known[id] = true
		}
	}
	fresh := false
	for _, id := range p.items {
		fresh = fresh || (id != "" && !known[id])
	}
	for _, x := range snap.lines {
		fresh = fresh || (x.ItemID != "" && !known[x.ItemID])
	}
	if !fresh {
		return nil
	}
	return s.saveState(ctx, snap, p, res, "", false)
}

// abandon ends an attempt whose writes failed part way: the Quote says so
// (when it exists), and the state remembers the Opportunity and the
// items but no version, so the retry syncs in full.
func (s *Syncer) abandon(ctx context.Context, a *attempt.Attempt, snap *snapshot, p *plan, res *applied, err error, op string, mark bool) {
	if mark {
		s.markQuote(ctx, res.sfID, StatusFailed, err.Error())
	}
	_ = s.saveState(ctx, snap, p, res, "", false)
	a.FailOp(err, op, "", res.sfID)
}

func (s *Syncer) finish(a *attempt.Attempt, p *plan, res *applied) {
	msg := strings.Join(nonEmpty(res.summary), "; ")
	if len(p.lossy) > 0 {
		msg += "; rounded to the Salesforce field's scale, value changed: " + strings.Join(p.lossy, ", ")
	}
	reason := ""
	if len(res.partial) > 0 {
		reason = ReasonPartial
		msg = fmt.Sprintf("partial: %d not synced (%s); %s", len(res.partial), strings.Join(res.partial, "; "), msg)
	}
	a.Finish(billsync.OutcomeSuccess, reason, res.op, "", msg, "", res.sfID)
}

// createOpportunity makes the quote's Opportunity (E6) and records its id
// in the sync state at once, so a retry after a later failure links the
// same Opportunity instead of making a second one.
func (s *Syncer) createOpportunity(ctx context.Context, a *attempt.Attempt, snap *snapshot, p *plan, res *applied) error {
	rec := p.newOpp
	var out []billsync.SaveResult
	var err error
	// Upsert by the quote's id where the org has the field (the SFDX
	// source adds it): a create whose answer was lost is then found again
	// by the retry instead of made twice.
	opp := s.obj.Opportunity
	if _, ok := snap.org.opp.Field(opp.ExternalID); ok {
		rec[opp.ExternalID] = p.q.ID
		out, err = s.cfg.CRM.Upsert(ctx, opp.SObject, opp.ExternalID, []billsync.SObject{rec})
	} else {
		out, err = s.cfg.CRM.Create(ctx, opp.SObject, []billsync.SObject{rec})
	}
	if err == nil {
		err = oneResult(out)
	}
	if err != nil {
		return fmt.Errorf("creating the Opportunity: %w", err)
	}
	res.oppID = out[0].ID
	if err := s.saveState(ctx, snap, p, res, "", false); err != nil {
		return err
	}
	res.summary = append(res.summary, "Opportunity "+res.oppID+" created")
	a.Note(a.Entry(billsync.ObjectQuote, p.q.ID, res.oppID, "create", billsync.OutcomeSuccess, "", "", "Opportunity created for the quote"))
	return nil
}

func (s *Syncer) upsertQuote(ctx context.Context, p *plan, res *applied) error {
	rec := p.quote
	if p.newQuote {
		rec["OpportunityId"] = res.oppID
		res.summary = append(res.summary, "owner from "+string(p.ownerSource))
	}
	out, err := s.cfg.CRM.Upsert(ctx, s.obj.Quote.SObject, s.obj.Quote.ExternalID, []billsync.SObject{rec})
	if err == nil {
		err = oneResult(out)
	}
	if err != nil {
		return err
	}
	res.sfID, res.op = out[0].ID, "update"
	if out[0].Created {
		res.op = "create"
	}
	return nil
}

// writeLines deletes and upserts the planned lines (one collections call
// per 200 records); each refused line gets its own log entry, and the
// error returned summarises them.
func (s *Syncer) writeLines(ctx context.Context, a *attempt.Attempt, p *plan, res *applied) error {
	lp := p.lines
	var errs []error
	if len(lp.deletes) > 0 {
		errs = append(errs, s.deleteAll(ctx, a, p.q.ID, lp.deletes, "quote line")...)
	}
	recs := records(lp.writes, "QuoteId", res.sfID)
	if len(recs) > 0 {
		out, err := s.cfg.CRM.Upsert(ctx, s.obj.Line.SObject, s.obj.Line.ExternalID, recs)
		if err != nil {
			return fmt.Errorf("upserting quote lines: %w", err)
		}
		errs = append(errs, noteRefusals(a, p.q.ID, "quote line", s.obj.Line.ExternalID, recs, out)...)
	}
	for _, u := range p.unpriced {
		a.Note(a.Entry(billsync.ObjectQuote, p.q.ID, "", "create", billsync.OutcomeFailed, billsync.ReasonValidation,
			billsync.ErrorCode(u.err), u.message()+"; the quote and its other lines were synced"))
		res.partial = append(res.partial, fmt.Sprintf("line %s: product %s has no usable PricebookEntry", u.itemID, u.code))
	}
	msg := fmt.Sprintf("%d lines (%d new, %d unchanged", lp.total, lp.created, lp.unchanged)
	if len(lp.deletes) > 0 {
		msg += fmt.Sprintf(", %d removed", len(lp.deletes))
	}
	if len(p.unpriced) > 0 {
		msg += fmt.Sprintf(", %d not synced", len(p.unpriced))
	}
	res.summary = append(res.summary, msg+")")
	return summarise("quote lines", len(recs)+len(lp.deletes), errs)
}

// writeProducts applies the product plan: one delete call, one upsert
// call per 200 products with partial success (a refused product is
// logged with Salesforce's error, the others land), one create for a
// placeholder. Only transient failures are returned: a permanent one is
// the product's, logged, and retrying the quote would not help it.
func (s *Syncer) writeProducts(ctx context.Context, a *attempt.Attempt, p *plan, res *applied) error {
	pp := p.products
	if pp == nil {
		s.noteProductsLeftAlone(a, p, res)
		return nil
	}
	var errs []error
	if len(pp.deletes) > 0 {
		errs = append(errs, s.deleteAll(ctx, a, p.q.ID, pp.deletes, "Opportunity product")...)
	}
	recs := records(pp.writes, "OpportunityId", res.oppID)
	if len(recs) > 0 {
		out, err := s.cfg.CRM.Upsert(ctx, s.obj.OppProduct.SObject, s.obj.OppProduct.ExternalID, recs)
		if err != nil {
			return fmt.Errorf("upserting Opportunity products: %w", err)
		}
		errs = append(errs, noteRefusals(a, p.q.ID, "Opportunity product", s.obj.OppProduct.ExternalID, recs, out)...)
	}
	phErrs, err := s.writePlaceholder(ctx, a, p, res)
	if err != nil {
		return err
	}
	errs = append(errs, phErrs...)
	var transient []error
	for _, err := range errs {
		if billsync.IsTransient(err) {
			transient = append(transient, err)
		} else {
			res.partial = append(res.partial, billsync.ErrorMessage(err))
		}
	}
	res.summary = append(res.summary, productSummary(pp, len(recs), len(errs)-len(transient)))
	return summarise("Opportunity products", len(recs)+len(pp.deletes), transient)
}

func (s *Syncer) noteProductsLeftAlone(a *attempt.Attempt, p *plan, res *applied) {
	if p.productsRefused == "" {
		res.summary = append(res.summary, "Opportunity products left alone ("+billsync.KeyQuotesDisableOppProductSync+")")
		return
	}
	a.Note(a.Entry(billsync.ObjectQuote, p.q.ID, res.oppID, "upsert", billsync.OutcomeFailed, rules.ReasonOppSyncDisabled,
		"FIELD_INTEGRITY_EXCEPTION", p.productsRefused))
}

func productSummary(pp *productPlan, written, failed int) string {
	msg := fmt.Sprintf("%d Opportunity products upserted, %d unchanged", written, pp.unchanged)
	if pp.removedByPlan > 0 {
		msg += fmt.Sprintf(", %d removed", pp.removedByPlan)
	}
	if pp.notEligible > 0 {
		msg += fmt.Sprintf(", %d lines not eligible", pp.notEligible)
	}
	if failed > 0 {
		msg += fmt.Sprintf(", %d failed", failed)
	}
	switch {
	case pp.placeholder == rules.PlaceholderAdd && pp.placeholderRec != nil:
		msg += "; renewal placeholder added"
	case pp.placeholder == rules.PlaceholderRemove:
		msg += "; renewal placeholder removed"
	}
	return msg
}

// writePlaceholder adds the renewal placeholder when the plan says so; a
// missing entry for it is logged, not fatal.
func (s *Syncer) writePlaceholder(ctx context.Context, a *attempt.Attempt, p *plan, res *applied) ([]error, error) {
	pp := p.products
	if pp.placeholder != rules.PlaceholderAdd {
		return nil, nil
	}
	if pp.placeholderRec == nil {
		err := pp.placeholderErr
		a.Note(a.Entry(billsync.ObjectQuote, p.q.ID, res.oppID, "create", billsync.OutcomeFailed, rules.ReasonPlaceholderAdd, billsync.ErrorCode(err),
			fmt.Sprintf("renewal placeholder could not be added (%s): %s", billsync.KeyQuotesRenewalPlaceholder, billsync.ErrorMessage(err))))
		return nil, nil
	}
	rec := pp.placeholderRec
	rec["OpportunityId"] = res.oppID
	out, err := s.cfg.CRM.Create(ctx, s.obj.OppProduct.SObject, []billsync.SObject{rec})
	if err != nil {
		return nil, fmt.Errorf("adding the renewal placeholder: %w", err)
	}
	return noteRefusals(a, p.q.ID, "renewal placeholder", "", []billsync.SObject{rec}, out), nil
}

// moveStage applies E9's stage change, and the mapped Opportunity fields
// that differ, to an existing Opportunity in one update; a new one was
// created with both already.
func (s *Syncer) moveStage(ctx context.Context, p *plan, res *applied) error {
	if !p.stage.Change && len(p.oppFields) == 0 {
		return nil
	}
	rec := billsync.SObject{"Id": res.oppID}
	for k, v := range p.oppFields {
		rec[k] = v
	}
	if p.stage.Change {
		rec["StageName"] = p.stage.Stage
	}
	if err := s.updateOne(ctx, s.obj.Opportunity.SObject, rec); err != nil {
		if !p.stage.Change {
			return fmt.Errorf("updating Opportunity %s: %w", res.oppID, err)
		}
		return fmt.Errorf("moving Opportunity %s to stage %q: %w", res.oppID, p.stage.Stage, err)
	}
	if p.stage.Change {
		res.summary = append(res.summary, "Opportunity stage → "+p.stage.Stage)
	}
	if len(p.oppFields) > 0 {
		res.summary = append(res.summary, fmt.Sprintf("%d Opportunity fields updated", len(p.oppFields)))
	}
	return nil
}

// notePartial makes the Quote say partial when Salesforce refused some of
// its products after the Quote was written as a success (lines without an
// entry were known before, and the Quote was written partial at once).
func (s *Syncer) notePartial(ctx context.Context, p *plan, res *applied) {
	if len(res.partial) == 0 || (p.status == StatusPartial && len(res.partial) == len(p.unpriced)) {
		return
	}
	s.markQuote(ctx, res.sfID, StatusPartial, strings.Join(res.partial, "\n"))
}

// markQuote sets the Quote's sync status after the fact; failing to is
// logged only, as the sync log has the outcome either way.
func (s *Syncer) markQuote(ctx context.Context, sfID, status, msg string) {
	if sfID == "" {
		return
	}
	rec := billsync.SObject{"Id": sfID, mapping.FieldLastSystem: mapping.LastSystemBilling}
	mapping.SyncStatusFields(rec, status, msg, s.now())
	if err := s.updateOne(ctx, s.obj.Quote.SObject, rec); err != nil {
		s.log.Warn("could not set the Salesforce Quote's sync status", "id", sfID, "status", status, "err", err)
	}
}

// writeBack records the Opportunity on the billing quote
// (crmOpportunityId) so that the next event finds it. The webhook this
// write causes is recognised as an echo by the content hash saved with
// the state. A failure is logged and not fatal: the Salesforce Quote keeps
// the link, and the next change of the quote writes it back again.
func (s *Syncer) writeBack(ctx context.Context, a *attempt.Attempt, snap *snapshot, res *applied, hash *string) {
	if sameSFID(snap.ent.Str("crmOpportunityId"), res.oppID) {
		return
	}
	if st := snap.st; st != nil && st.Agreed[agreedLinkKept] != "" && snap.ent.Str("crmOpportunityId") == "" && sameSFID(st.Agreed[agreedOpportunity], res.oppID) {
		// Billing refused the link before and billsync keeps it: asking
		// again on every change would only repeat the refusal.
		res.linkKept = true
		return
	}
	upd := snap.ent.Clone()
	upd["crmOpportunityId"] = res.oppID
	got, err := s.cfg.Billing.Update(ctx, billsync.ObjectQuote, upd)
	if billsync.RemoteCode(err) == billsync.ReasonUnsupported {
		// Not a failure to retry: the platform will never take it. The
		// link is kept in the sync state (and the Salesforce Quote holds
		// it), so the quote's next change finds the same Opportunity.
		res.linkKept = true
		a.Note(a.Entry(billsync.ObjectQuote, snap.ent.ID(), res.oppID, "update", billsync.OutcomeSkipped, billsync.ReasonUnsupported, "",
			fmt.Sprintf("crmOpportunityId %s not written back: %s; billsync keeps the link", res.oppID, billsync.ErrorMessage(err))))
		return
	}
	if err != nil {
		a.Note(a.Entry(billsync.ObjectQuote, snap.ent.ID(), res.oppID, "update", billsync.OutcomeFailed, billsync.ReasonRemoteError, billsync.RemoteCode(err),
			fmt.Sprintf("could not write crmOpportunityId %s back to the billing quote (the next change of the quote retries): %s", res.oppID, billsync.ErrorMessage(err))))
		return
	}
	*hash = contentHash(got)
	a.Note(a.Entry(billsync.ObjectQuote, snap.ent.ID(), res.oppID, "update", billsync.OutcomeSuccess, "", "", "crmOpportunityId written back to the billing quote"))
}

// records are the planned records with parent set on those to create.
func records(ws []write, parent, parentID string) []billsync.SObject {
	out := make([]billsync.SObject, 0, len(ws))
	for _, w := range ws {
		if w.create {
			w.rec[parent] = parentID
		}
		out = append(out, w.rec)
	}
	return out
}
