package quotesync

import (
	"context"
	"fmt"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// SyncQuote applies a quote change to Salesforce (SPEC §3 E, F): stale and
// echo checks, the status gate, every read and all validation, and only
// then the writes of one plan, the Opportunity id written back to billing,
// and the state. Its outcome is recorded in a.
func (s *Syncer) SyncQuote(ctx context.Context, a *attempt.Attempt) {
	if a.Change.Op == billsync.OpDeleted {
		s.deleteQuote(ctx, a)
		return
	}
	ent, st, ok := s.admit(ctx, a)
	if !ok {
		return
	}
	set := readSettings(a.Settings)
	if !rules.QuoteSyncs(ent.Str("status"), set.allowed).OK {
		s.skipNotAllowed(ctx, a, ent, st, set)
		return
	}
	snap, err := s.read(ctx, ent, st, set)
	if err != nil {
		a.Fail(err, "", sfIDOf(st))
		return
	}
	p, ok := s.decide(ctx, a, snap)
	if !ok {
		return
	}
	s.apply(ctx, a, snap, p, contentHash(ent))
}

// admit decodes the change and applies the stale and echo checks (B6); it
// reports false when it has recorded the attempt's outcome.
func (s *Syncer) admit(ctx context.Context, a *attempt.Attempt) (billsync.Entity, *billsync.SyncState, bool) {
	ent, err := decodeEntity(a.Change.Payload)
	if err != nil {
		a.Fail(err, "", "")
		return nil, nil, false
	}
	if ent.ID() == "" {
		a.Fail(&rules.ValidationError{Field: "id", Message: "required"}, "", "")
		return nil, nil, false
	}
	st, err := s.state(ctx, ent.ID())
	if err != nil {
		a.Fail(err, "", "")
		return nil, nil, false
	}
	switch {
	case st == nil:
		return ent, nil, true
	case ent.Version() > 0 && ent.Version() <= st.BillingVersion:
		// A platform without versions (Stripe) has none to compare: its
		// quote is billing's current copy, read on notice, and the
		// content hash below tells a repeat from a change.
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonStale, "", "",
			fmt.Sprintf("version %d is not newer than the applied version %d", ent.Version(), st.BillingVersion), "", st.SalesforceID)
		return nil, nil, false
	case st.Agreed[agreedHash] == contentHash(ent) && linked(ent, st):
		// Typically the echo of billsync's own crmOpportunityId write-back.
		// A quote still lacking the link is not an echo: its write-back
		// failed and is due again.
		st.BillingVersion = ent.Version()
		st.UpdatedAt = s.now()
		if err := s.cfg.State.PutSyncState(ctx, st); err != nil {
			a.Fail(err, "", st.SalesforceID)
			return nil, nil, false
		}
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonEcho, "", "", "equal to the quote last applied", "", st.SalesforceID)
		return nil, nil, false
	}
	return ent, st, true
}

// decide validates, prices and plans: the pricing read (the only read
// that needs a valid quote) happens here, every decision around it is a
// pure function. It reports false when it has recorded the outcome.
func (s *Syncer) decide(ctx context.Context, a *attempt.Attempt, snap *snapshot) (*plan, bool) {
	c, v := check(snap, s.m)
	if !v.ok() {
		if v.wait != "" {
			a.Wait(rules.ReasonOriginalQuoteMissing, v.wait, "", snap.sfID())
		} else {
			invalid(a, v.errs, snap.sfID())
		}
		return nil, false
	}
	need := pricesNeeded(snap, c)
	if need.pricebookID == "" {
		snap.pricebookName = need.pricebookName
	}
	var err error
	if snap.pricebookID, snap.catalog, err = s.readPrices(ctx, need, snap.org.multiCurrency); err != nil {
		a.Fail(err, "", snap.sfID())
		return nil, false
	}
	pr, errs := price(snap, c)
	if errs = append(c.deferred, errs...); len(errs) > 0 {
		invalid(a, dedupe(errs), snap.sfID())
		return nil, false
	}
	p, err := planQuote(snap, c, pr, s.m, s.now())
	if err != nil {
		a.Fail(err, "", snap.sfID())
		return nil, false
	}
	return p, true
}

// invalid reports validation problems (E5): nothing has been written, and
// the message names every field at fault.
func invalid(a *attempt.Attempt, errs rules.ValidationErrors, sfID string) {
	a.Fail(&billsync.Error{Code: billsync.EINVALID, Message: errs.Error()}, "", sfID)
}

func sfIDOf(st *billsync.SyncState) string {
	if st == nil {
		return ""
	}
	return st.SalesforceID
}

// skipNotAllowed skips a quote whose status is not allowed (F5), with the
// documented exception of rules/DECISIONS.md (Stage, point 4): a quote
// billsync already synced still moves its Opportunity's stage when the
// new status is mapped (CANCELED → Closed Lost), because a canceled deal
// left open in the pipeline is the worse outcome. Nothing else is written.
func (s *Syncer) skipNotAllowed(ctx context.Context, a *attempt.Attempt, ent billsync.Entity, st *billsync.SyncState, set settings) {
	status := ent.Str("status")
	msg := fmt.Sprintf("status %q is not in %s", status, billsync.KeyQuotesAllowedStatuses)
	if st == nil {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonStatusNotAllowed, "", "", msg, "", "")
		return
	}
	moved, err := s.stageOnly(ctx, st.Agreed[agreedOpportunity], status, set)
	if err != nil {
		a.FailOp(err, "update", "", st.SalesforceID)
		return
	}
	msg += moved
	st.BillingVersion = ent.Version()
	// The Quote in Salesforce no longer matches this content; a later
	// return to an allowed status must sync in full.
	delete(st.Agreed, agreedHash)
	st.UpdatedAt = s.now()
	if err := s.cfg.State.PutSyncState(ctx, st); err != nil {
		a.Fail(err, "", st.SalesforceID)
		return
	}
	a.Finish(billsync.OutcomeSkipped, billsync.ReasonStatusNotAllowed, "", "", msg, "", st.SalesforceID)
}

// stageOnly moves a synced quote's Opportunity to its mapped stage and
// says so ("" when nothing moved).
func (s *Syncer) stageOnly(ctx context.Context, oppID, status string, set settings) (string, error) {
	if !isSFID(oppID) || strings.TrimSpace(set.stages[status]) == "" {
		return "", nil
	}
	opp, err := s.readOne(ctx, s.obj.Opportunity.SObject, []string{"Id", "StageName"}, oppID)
	if err != nil || opp == nil {
		return "", err
	}
	sc := rules.OpportunityStage(status, set.stages, opp.Str("StageName"))
	if !sc.Change {
		return "", nil
	}
	if err := s.updateOne(ctx, s.obj.Opportunity.SObject, billsync.SObject{"Id": oppID, "StageName": sc.Stage}); err != nil {
		return "", err
	}
	return fmt.Sprintf("; Opportunity %s moved to stage %q (%s applies to synced quotes in any status)",
		oppID, sc.Stage, billsync.KeyQuotesStageMapping), nil
}

// deleteQuote applies the deletes.quote policy (H1).
func (s *Syncer) deleteQuote(ctx context.Context, a *attempt.Attempt) {
	st, err := s.state(ctx, a.Change.RecordID)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	policy := a.Settings.DeletePolicy(billsync.ObjectQuote)
	if st == nil || st.SalesforceID == "" || policy == billsync.DeleteIgnore {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonDeleteIgnored, "delete", "", "deletes.quote is "+policy, "", "")
		return
	}
	switch policy {
	case billsync.DeleteMirror:
		// Deleting a Quote deletes its lines with it.
		res, err := s.cfg.CRM.Delete(ctx, []string{st.SalesforceID})
		if err == nil && len(res) == 1 && res[0].Err() != nil && billsync.RemoteCode(res[0].Err()) != "ENTITY_IS_DELETED" {
			err = res[0].Err()
		}
		if err != nil {
			a.FailOp(err, "delete", "", st.SalesforceID)
			return
		}
		if err := s.cfg.State.DeleteSyncState(ctx, billsync.ObjectQuote, st.BillingID); err != nil {
			a.Fail(err, "", st.SalesforceID)
			return
		}
	case billsync.DeleteFlag:
		rec := billsync.SObject{"Id": st.SalesforceID, mapping.FieldDeleted: true, mapping.FieldLastSystem: mapping.LastSystemBilling}
		if err := s.updateOne(ctx, s.obj.Quote.SObject, rec); err != nil {
			a.FailOp(err, "update", "", st.SalesforceID)
			return
		}
	}
	a.Finish(billsync.OutcomeSuccess, "", "delete", "", "deletes.quote is "+policy, "", st.SalesforceID)
}

func (s *Syncer) updateOne(ctx context.Context, object string, rec billsync.SObject) error {
	res, err := s.cfg.CRM.Update(ctx, object, []billsync.SObject{rec})
	if err != nil {
		return err
	}
	return oneResult(res)
}

func oneResult(res []billsync.SaveResult) error {
	if len(res) != 1 {
		return billsync.Errorf(billsync.EINTERNAL, "write returned %d results for 1 record", len(res))
	}
	return res[0].Err()
}

// deleteAll deletes records by id; ENTITY_IS_DELETED counts as done.
func (s *Syncer) deleteAll(ctx context.Context, a *attempt.Attempt, billingID string, rs []removal, what string) []error {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	res, err := s.cfg.CRM.Delete(ctx, ids)
	if err != nil {
		return []error{fmt.Errorf("deleting %ss: %w", what, err)}
	}
	var errs []error
	for i, r := range res {
		if i >= len(rs) {
			break
		}
		if err := r.Err(); err != nil && billsync.RemoteCode(err) != "ENTITY_IS_DELETED" {
			ref := &refusal{label: fmt.Sprintf("%s %s (%s)", what, rs[i].id, rs[i].why), err: err}
			a.Note(a.Entry(billsync.ObjectQuote, billingID, rs[i].id, "delete", billsync.OutcomeFailed, billsync.ReasonRemoteError,
				billsync.RemoteCode(err), ref.Error()))
			errs = append(errs, ref)
		}
	}
	return errs
}

// noteRefusals logs each record Salesforce refused, with its own error
// code and message (F2).
// extID names the item a record is for ("" for records of no item).
func noteRefusals(a *attempt.Attempt, billingID, what, extID string, recs []billsync.SObject, res []billsync.SaveResult) []error {
	var errs []error
	for i, r := range res {
		if i >= len(recs) {
			break
		}
		err := r.Err()
		if err == nil {
			continue
		}
		label := what
		if item := recs[i].Str(extID); extID != "" && item != "" {
			label += " " + item
		}
		a.Note(a.Entry(billsync.ObjectQuote, billingID, r.ID, "upsert", billsync.OutcomeFailed, billsync.ReasonRemoteError,
			billsync.RemoteCode(err), fmt.Sprintf("%s: %s", label, billsync.ErrorMessage(err))))
		errs = append(errs, &refusal{label: label, err: err})
	}
	if len(res) < len(recs) {
		errs = append(errs, billsync.Errorf(billsync.EINTERNAL, "%s write returned %d results for %d records", what, len(res), len(recs)))
	}
	return errs
}

// refusal is one record's failure, named.
type refusal struct {
	label string
	err   error
}

func (r *refusal) Error() string { return r.label + ": " + billsync.ErrorMessage(r.err) }
func (r *refusal) Unwrap() error { return r.err }

// summarise folds per-record failures into one error for the change's own
// log entry, transient when any of them is (so the quote is retried).
func summarise(what string, total int, errs []error) error {
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
	return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Transient: transient,
		Code: billsync.RemoteCode(first), Message: fmt.Sprintf("%d of %d %s failed; first: %s", len(errs), total, what, billsync.ErrorMessage(first))}
}

func nonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// linked reports whether the billing quote carries the Opportunity link
// billsync applied, or billing cannot hold it and billsync keeps it.
func linked(ent billsync.Entity, st *billsync.SyncState) bool {
	if st.Agreed[agreedLinkKept] != "" && ent.Str("crmOpportunityId") == "" {
		return true
	}
	return sameSFID(ent.Str("crmOpportunityId"), st.Agreed[agreedOpportunity])
}
