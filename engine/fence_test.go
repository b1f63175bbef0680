package engine

import (
	"context"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

// A failed call answered after the claim's lease ran out (a stalled
// replica waking up) leaves no failure marker on the Salesforce record:
// another replica may have synced it since.
func TestNoFailureMarkerPastTheLease(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sfID := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "N"})
	b.billing.Hook = func(context.Context, mock.BillingCall) error {
		return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 422, Code: "invalid_currency", Message: "currency required"}
	}
	ctx := billsync.WithLeaseEnd(context.Background(), time.Now().Add(-time.Second))
	r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID))
	if r.Disposition != attempt.Dead {
		t.Fatalf("disposition %v", r.Disposition)
	}
	if got := b.org.Get(sfID).Str("BillingSyncStatus__c"); got == "failed" {
		t.Errorf("a replica past its lease marked the record failed")
	}
}
