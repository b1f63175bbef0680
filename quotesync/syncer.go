package quotesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// Keys of a quote's SyncState.Agreed. Quote sync is one-way, so instead
// of field values the state keeps what the stale and echo checks (B6) and
// the Opportunity link need.
const (
	agreedHash        = "quote.hash"        // content hash of the last quote applied (or written back)
	agreedOpportunity = "quote.opportunity" // the Opportunity the Salesforce Quote belongs to
	// agreedItems lists the quote's item ids billsync has synced, so the
	// Opportunity products of a removed item are known as this quote's
	// even when an earlier attempt already deleted its quote line.
	agreedItems = "quote.items"
)

// quoteSettings are the A3 settings as one attempt sees them.
type quoteSettings struct {
	allowed     []string
	autoCreate  bool
	stages      map[string]string
	pricebook   string
	disableOpp  bool
	placeholder string
}

func readQuoteSettings(s billsync.Settings) quoteSettings {
	return quoteSettings{
		allowed:     s.Strings(billsync.KeyQuotesAllowedStatuses),
		autoCreate:  s.Bool(billsync.KeyQuotesAutoCreateOpportunity),
		stages:      s.Map(billsync.KeyQuotesStageMapping),
		pricebook:   s.String(billsync.KeyQuotesPricebook),
		disableOpp:  s.Bool(billsync.KeyQuotesDisableOppProductSync),
		placeholder: strings.TrimSpace(s.String(billsync.KeyQuotesRenewalPlaceholder)),
	}
}

// SyncQuote applies a quote change to Salesforce (SPEC §3 E, F): stale and
// echo checks, the status gate, every read and all validation, and only
// then the writes — Opportunity, Quote, lines, Opportunity products, stage,
// renewal placeholder — and the Opportunity id written back to billing.
func (s *Syncer) SyncQuote(ctx context.Context, a *attempt.Attempt) { s.syncQuote(ctx, a) }

func (s *Syncer) syncQuote(ctx context.Context, a *attempt.Attempt) {
	c := a.Change
	if c.Op == billsync.OpDeleted {
		s.deleteQuote(ctx, a)
		return
	}
	ent, err := decodeObject(c.Payload)
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	if ent.ID() == "" {
		a.Fail(&rules.ValidationError{Field: "id", Message: "required"}, "", "")
		return
	}
	st, err := s.state(ctx, billsync.ObjectQuote, ent.ID())
	if err != nil {
		a.Fail(err, "", "")
		return
	}
	if st != nil && ent.Version() <= st.BillingVersion {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonStale, "", "",
			fmt.Sprintf("version %d is not newer than the applied version %d", ent.Version(), st.BillingVersion), "", st.SalesforceID)
		return
	}
	hash := quoteHash(ent)
	if st != nil && st.Agreed[agreedHash] == hash && quoteSameSFID(ent.Str("crmOpportunityId"), st.Agreed[agreedOpportunity]) {
		// Typically the echo of billsync's own crmOpportunityId write-back.
		// A quote still lacking the link is not an echo: its write-back
		// failed and is due again.
		st.BillingVersion = ent.Version()
		st.UpdatedAt = s.now()
		if err := s.cfg.State.PutSyncState(ctx, st); err != nil {
			a.Fail(err, "", st.SalesforceID)
			return
		}
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonEcho, "", "", "equal to the quote last applied", "", st.SalesforceID)
		return
	}
	qs := readQuoteSettings(a.Settings)
	if d := rules.QuoteSyncs(ent.Str("status"), qs.allowed); !d.OK {
		s.quoteNotAllowed(ctx, a, ent, st, qs)
		return
	}
	j, ok := s.prepareQuote(ctx, a, ent, st, qs)
	if !ok {
		return
	}
	j.hash = hash
	s.writeQuote(ctx, a, j)
}

// quoteHash fingerprints what a quote says, leaving out what every write
// changes (version, timestamps), so billsync's own write-back of
// crmOpportunityId is recognised when it comes back as a webhook.
func quoteHash(ent billsync.Entity) string {
	c := billsync.Entity{}
	for k, v := range ent {
		switch k {
		case "version", "updatedAt", "createdAt":
			continue
		}
		c[k] = v
	}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// quoteNotAllowed skips a quote whose status is not allowed (F5) with the
// documented exception of rules/DECISIONS.md (Stage, point 4): a quote
// billsync already synced still moves its Opportunity's stage when the
// new status is mapped (CANCELED → Closed Lost), because a canceled deal
// left open in the pipeline is the worse outcome. Nothing else is written.
func (s *Syncer) quoteNotAllowed(ctx context.Context, a *attempt.Attempt, ent billsync.Entity, st *billsync.SyncState, qs quoteSettings) {
	status := ent.Str("status")
	msg := fmt.Sprintf("status %q is not in %s", status, billsync.KeyQuotesAllowedStatuses)
	sfID := ""
	if st != nil {
		sfID = st.SalesforceID
		if oppID := st.Agreed[agreedOpportunity]; oppID != "" && sfIDPattern.MatchString(oppID) && strings.TrimSpace(qs.stages[status]) != "" {
			opp, err := s.quoteQueryOne(ctx, fmt.Sprintf("SELECT Id, StageName FROM Opportunity WHERE Id = '%s'", oppID))
			if err != nil {
				a.Fail(err, "", sfID)
				return
			}
			if opp != nil {
				sc := rules.OpportunityStage(status, qs.stages, opp.Str("StageName"))
				if sc.Change {
					if err := s.quoteUpdateOne(ctx, sobjOpportunity, billsync.SObject{"Id": oppID, "StageName": sc.Stage}); err != nil {
						a.FailOp(err, "update", "", sfID)
						return
					}
					msg += fmt.Sprintf("; Opportunity %s moved to stage %q (the stage mapping applies to synced quotes in any status)", oppID, sc.Stage)
				}
			}
		}
		st.BillingVersion = ent.Version()
		// The Quote in Salesforce no longer matches this content; a later
		// return to an allowed status must sync in full.
		delete(st.Agreed, agreedHash)
		st.UpdatedAt = s.now()
		if err := s.cfg.State.PutSyncState(ctx, st); err != nil {
			a.Fail(err, "", sfID)
			return
		}
	}
	a.Finish(billsync.OutcomeSkipped, billsync.ReasonStatusNotAllowed, "", "", msg, "", sfID)
}

// deleteQuote applies the deletes.quote policy (H1).
func (s *Syncer) deleteQuote(ctx context.Context, a *attempt.Attempt) {
	st, err := s.state(ctx, billsync.ObjectQuote, a.Change.RecordID)
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
		if err == nil && len(res) == 1 && !res[0].Success && res[0].Err() != nil && billsync.RemoteCode(res[0].Err()) != "ENTITY_IS_DELETED" {
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
		if err := s.quoteUpdateOne(ctx, sobjQuote, rec); err != nil {
			a.FailOp(err, "update", "", st.SalesforceID)
			return
		}
	}
	a.Finish(billsync.OutcomeSuccess, "", "delete", "", "deletes.quote is "+policy, "", st.SalesforceID)
}

func (s *Syncer) quoteUpdateOne(ctx context.Context, object string, rec billsync.SObject) error {
	res, err := s.cfg.CRM.Update(ctx, object, []billsync.SObject{rec})
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return billsync.Errorf(billsync.EINTERNAL, "update returned %d results for 1 record", len(res))
	}
	return res[0].Err()
}

// invalidQuote reports validation problems (E5): nothing has been written,
// and the message names every field at fault.
func invalidQuote(a *attempt.Attempt, errs rules.ValidationErrors, sfID string) {
	a.Fail(&billsync.Error{Code: billsync.EINVALID, Message: errs.Error()}, "", sfID)
}

// asValidation turns a rules error into ValidationErrors, giving a
// pricebook error the path of the line it belongs to.
func asValidation(err error, path string) rules.ValidationErrors {
	var ves rules.ValidationErrors
	if errors.As(err, &ves) {
		return ves
	}
	var ve *rules.ValidationError
	if errors.As(err, &ve) {
		field := ve.Field
		if path != "" && field == "productCode" {
			field = path + ".productCode"
		}
		return rules.ValidationErrors{{Field: field, Message: ve.Message}}
	}
	return rules.ValidationErrors{{Message: err.Error()}}
}
