package quotesync

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// A platform without versions (Stripe) sends quotes with no version, and
// a finalized quote takes no write: the Opportunity link stays billsync's,
// a repeat of the same quote is an echo, and a later change (accepted) is
// applied, not skipped as stale.
func TestUnversionedQuoteWithoutWriteBack(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	f.billing.Hook = func(_ context.Context, c mock.BillingCall) error {
		if c.Method == "update" && c.Type == billsync.ObjectQuote {
			return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 400, Code: billsync.ReasonUnsupported,
				Message: "Stripe lets only a draft quote change"}
		}
		return nil
	}
	unversioned := func(q billsync.Quote) billsync.Change {
		b, err := json.Marshal(q)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "version")
		b, _ = json.Marshal(m)
		return billsync.Change{ID: 1, Partition: billsync.QuotePartition(q.ID), Source: billsync.SideBilling, Object: billsync.ObjectQuote,
			Op: billsync.OpUpdated, RecordID: q.ID, EventID: "evt_" + q.Status, Payload: b, Attempt: 1, EnqueuedAt: f.now}
	}
	q := qBase("qt_1")
	q.Version, q.Status = 0, "DRAFT"
	r := f.process(unversioned(q))
	var noted bool
	for _, e := range r.Entries {
		if e.Operation == "update" && e.Outcome == billsync.OutcomeSkipped && e.Reason == billsync.ReasonUnsupported {
			noted = true
		}
		if e.Outcome == billsync.OutcomeFailed {
			t.Errorf("a refused write-back is not a failure: %+v", e)
		}
	}
	if !noted {
		t.Errorf("the refused write-back is not noted as unsupported: %+v", r.Entries)
	}
	if le := qMustSucceed(t, r); le.Operation != "create" {
		t.Errorf("operation %q", le.Operation)
	}
	oppID := f.sfQuote("qt_1").Str("OpportunityId")

	// The same quote again (a duplicate event): an echo, nothing written.
	before := f.org.Writes()
	if le := qLast(t, f.process(unversioned(q))); le.Reason != billsync.ReasonEcho {
		t.Errorf("repeat: %+v", le)
	}
	if f.org.Writes() != before {
		t.Error("the repeat wrote to Salesforce")
	}

	// Accepted: applied (no version to call it stale), on the same
	// Opportunity.
	q.Status = "ACCEPTED"
	asked := func() int {
		n := 0
		for _, c := range f.billing.Calls() {
			if c.Method == "update" && c.Type == billsync.ObjectQuote {
				n++
			}
		}
		return n
	}
	before = asked()
	qMustSucceed(t, f.process(unversioned(q)))
	if asked() != before {
		t.Errorf("billing was asked for the link again after refusing it")
	}
	if got := f.sfQuote("qt_1"); got.Str("Status") == "Draft" || got.Str("OpportunityId") != oppID {
		t.Errorf("after accepted: %v (opportunity %s)", got, oppID)
	}
}
