package quotesync

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

// H1: the deletes.quote policy.
func TestQuoteDelete(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{billsync.DeleteIgnore, billsync.DeleteMirror, billsync.DeleteFlag} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			f := newQFix(t, false)
			qMustSucceed(t, f.send(qBase("qd")))
			id := f.sfQuote("qd").ID()
			f.setting(billsync.PrefixDeletes+string(billsync.ObjectQuote), `"`+policy+`"`)
			r := f.process(billsync.Change{ID: 9, Source: billsync.SideBilling, Object: billsync.ObjectQuote, Op: billsync.OpDeleted,
				RecordID: "qd", Attempt: 1, EnqueuedAt: f.now})
			le := qLast(t, r)
			switch policy {
			case billsync.DeleteIgnore:
				if le.Reason != billsync.ReasonDeleteIgnored || f.org.Get(id) == nil {
					t.Errorf("%+v", le)
				}
			case billsync.DeleteMirror:
				if le.Outcome != billsync.OutcomeSuccess || f.org.Get(id) != nil || len(f.org.All("QuoteLineItem", "QuoteId", id)) != 0 {
					t.Errorf("%+v: the Quote or its lines remain", le)
				}
				if st, _ := f.state.SyncState(t.Context(), billsync.ObjectQuote, "qd"); st != nil {
					t.Error("the state remains after a mirrored delete")
				}
			case billsync.DeleteFlag:
				if le.Outcome != billsync.OutcomeSuccess || f.org.Get(id)[mapping.FieldDeleted] != true {
					t.Errorf("%+v %v", le, f.org.Get(id))
				}
			}
		})
	}
	t.Run("never synced", func(t *testing.T) {
		f := newQFix(t, false)
		f.setting(billsync.PrefixDeletes+string(billsync.ObjectQuote), `"mirror"`)
		r := f.process(billsync.Change{ID: 1, Source: billsync.SideBilling, Object: billsync.ObjectQuote, Op: billsync.OpDeleted, RecordID: "qx", Attempt: 1})
		if le := qLast(t, r); le.Reason != billsync.ReasonDeleteIgnored || f.org.Writes() != 0 {
			t.Errorf("%+v", le)
		}
	})
}

// A quote line Salesforce refuses fails the attempt (docs/quotes.md,
// decision 7): the Quote says failed, and the state keeps no version, so
// the retry syncs the quote in full.
func TestQuoteRefusedLineFailsTheAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code string
		disp attempt.Disposition
	}{{"FIELD_CUSTOM_VALIDATION_EXCEPTION", attempt.Dead}, {"UNABLE_TO_LOCK_ROW", attempt.Retry}} {
		t.Run(tc.code, func(t *testing.T) {
			t.Parallel()
			f := newQFix(t, false)
			f.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
				if object == "QuoteLineItem" && r.Str(fieldLineExtID) == "qf_it1" {
					return &billsync.FieldError{StatusCode: tc.code, Message: "refused"}
				}
				return nil
			}
			r := f.send(qBase("qf"))
			if le := qLast(t, r); r.Disposition != tc.disp || !strings.Contains(le.Message, "qf_it1") {
				t.Fatalf("%s %+v", r.Disposition, le)
			}
			if got := f.sfQuote("qf").Str(mapping.FieldSyncStatus); got != StatusFailed {
				t.Errorf("Quote sync status %q", got)
			}
			st, _ := f.state.SyncState(t.Context(), billsync.ObjectQuote, "qf")
			if st == nil || st.BillingVersion != 0 || st.Agreed[agreedHash] != "" || st.Agreed[agreedOpportunity] == "" {
				t.Errorf("state %+v", st)
			}
			f.org.FailRecord = nil
			qMustSucceed(t, f.send(qBase("qf")))
			if n := len(f.org.All("Opportunity")); n != 1 {
				t.Errorf("%d Opportunities after the retry", n)
			}
		})
	}
}

// A whole call failing (the Quote's upsert, the stage update) fails the
// attempt with the Salesforce error, transient ones retried.
func TestQuoteWriteCallFailures(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	f.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		if object == "Quote" {
			return &billsync.FieldError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "locked"}
		}
		return nil
	}
	r := f.send(qBase("qw"))
	if le := qLast(t, r); r.Disposition != attempt.Retry || le.ErrorCode != "UNABLE_TO_LOCK_ROW" || le.Operation != "upsert" {
		t.Fatalf("%s %+v", r.Disposition, le)
	}
	// The Opportunity made before the failure is reused.
	f.org.FailRecord = nil
	qMustSucceed(t, f.send(qBase("qw")))
	if n := len(f.org.All("Opportunity")); n != 1 {
		t.Errorf("%d Opportunities", n)
	}
}

// An org without the SFDX source's Opportunity.BillingQuoteId__c gets
// the Opportunity by create; the next change reuses it through the state.
func TestQuoteOpportunityCreatedWithoutQuoteIDField(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	delete(f.org.Describes, sobjOpportunity)
	qMustSucceed(t, f.send(qBase("qn")))
	if log := f.org.CallLog(); !slices.Contains(log, "create Opportunity") || slices.Contains(log, "upsert Opportunity") {
		t.Errorf("calls %v, want the Opportunity created", log)
	}
	q := qBase("qn")
	q.Version = 2
	qMustSucceed(t, f.send(q))
	opps := f.org.All(sobjOpportunity)
	if len(opps) != 1 || f.sfQuote("qn").Str("OpportunityId") != opps[0].ID() {
		t.Errorf("Opportunities %v", opps)
	}
}

// docs/quotes.md decision 9: an Opportunity on another pricebook keeps its
// products; the Quote and lines still sync and the reason is logged.
func TestQuoteOpportunityOnAnotherPricebook(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	other := f.org.Put("Pricebook2", billsync.SObject{"Name": "Enterprise", "IsActive": true})
	opp := f.org.Put("Opportunity", billsync.SObject{"Name": "Deal", "OwnerId": qSam, "StageName": "Prospecting", "AccountId": f.account, "Pricebook2Id": other})
	q := qBase("qp")
	q.CRMOpportunityID = opp
	r := f.send(q)
	qMustSucceed(t, r)
	found := false
	for _, le := range r.Entries {
		if le.Outcome == billsync.OutcomeFailed && strings.Contains(le.Message, other) && strings.Contains(le.Message, billsync.KeyQuotesPricebook) {
			found = true
		}
	}
	if !found {
		t.Errorf("no entry naming the Opportunity's pricebook: %+v", r.Entries)
	}
	if n := len(f.oppProducts(opp)); n != 0 {
		t.Errorf("%d products written to an Opportunity on another pricebook", n)
	}
	if got := f.sfQuote("qp").Str("OwnerId"); got != qSam {
		t.Errorf("owner %q, want the Opportunity's", got)
	}
}

// E9: a placeholder product without an entry is logged, not fatal.
func TestQuotePlaceholderWithoutEntry(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	f.setting(billsync.KeyQuotesRenewalPlaceholder, `"NO-SUCH-PLACEHOLDER"`)
	q := qBase("qr")
	q.ManualRenewal = true
	r := f.send(q)
	qMustSucceed(t, r)
	found := false
	for _, le := range r.Entries {
		if le.Outcome == billsync.OutcomeFailed && strings.Contains(le.Message, "NO-SUCH-PLACEHOLDER") {
			found = true
		}
	}
	if !found {
		t.Errorf("no entry for the missing placeholder: %+v", r.Entries)
	}
}

// Bad input: no payload, no id.
func TestQuoteBadChange(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	for _, payload := range []string{"", `{"status":"DRAFT"}`, `{`} {
		r := f.process(billsync.Change{ID: 1, Source: billsync.SideBilling, Object: billsync.ObjectQuote, Op: billsync.OpUpdated,
			RecordID: "qb", Payload: json.RawMessage(payload), Attempt: 1})
		if le := qLast(t, r); r.Disposition != attempt.Dead || le.Outcome != billsync.OutcomeDead {
			t.Errorf("payload %q: %s %+v", payload, r.Disposition, le)
		}
	}
}

func TestNewNeedsItsParts(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without CRM, State and Billing")
	}
	bad := &mapping.QuoteMapping{Quote: []mapping.QuoteField{{}}}
	if _, err := New(Config{CRM: mock.NewOrg(), State: mock.NewStore(), Billing: mock.NewBilling(), Mapping: bad}); err == nil {
		t.Error("New with an invalid mapping")
	}
}

// The mapping comes from Config, not a package default.
func TestConfigMappingIsUsed(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	m := mapping.DefaultQuote()
	for i := range m.Line {
		if m.Line[i].Salesforce == "Description" {
			m.Line[i].Billing = "productCode"
		}
	}
	s, err := New(Config{CRM: f.org, State: f.state, Billing: f.billing, Mapping: m, Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = s
	qMustSucceed(t, f.send(qBase("qm")))
	if got := f.org.Find("QuoteLineItem", fieldLineExtID, "qm_it1").Str("Description"); got != "PLAT-SUB" {
		t.Errorf("line Description %q, want the product code the configured mapping names", got)
	}
}

// Warm reads the four describes once; the quotes after it read none.
func TestWarmCachesDescribes(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	if err := f.syncer.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := f.org.CallCount()["describe"]; n != 4 {
		t.Fatalf("Warm made %d describe calls, want 4", n)
	}
	qMustSucceed(t, f.send(qBase("qc1")))
	qMustSucceed(t, f.send(qBase("qc2")))
	if n := f.org.CallCount()["describe"]; n != 4 {
		t.Errorf("%d describe calls after two quotes, want the 4 of Warm", n)
	}
}
