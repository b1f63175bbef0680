package engine

import (
	"context"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// In an org without BillingSyncTrigger (salesforce.changeSource cdc and
// only the objects deployed) nothing keeps revisions, so a write decided
// from the agreed values is never refused. A sales user's edit billsync
// has not heard of yet must still not be overwritten by a billing edit of
// the same field: the Unguarded engine reads the record before it
// decides, and the policy settles the two edits as a recorded conflict.
func TestUnguardedOrgReadsBeforeAnUpdate(t *testing.T) {
	t.Parallel()
	for _, o := range windowObjects {
		t.Run(string(o.typ), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setup(t)
			ids := b.syncedTrio(t)
			b.engine.cfg.Unguarded = true
			b.org.FailRecord = nil // no trigger: no revision rule
			sfID := ids[o.billingID]
			// The user's edit: no revision moves, as without the trigger.
			b.org.Set(sfID, o.sfField, "From Salesforce")
			b.org.Set(sfID, mapping.FieldLastSystem, mapping.LastSystemSFDC)
			b.org.Set(sfID, "LastModifiedDate", fixedNow.Format("2006-01-02T15:04:05.000-0700"))
			before := len(b.org.Calls())
			change := b.billingEdit(t, o, "From billing", fixedNow.Add(-time.Minute))
			if le := only(t, b.engine.Process(ctx, change)); le.Outcome != billsync.OutcomeConflict {
				t.Fatalf("billing change: %+v", le)
			}
			if calls := b.org.Calls()[before:]; len(calls) == 0 || calls[0].Method == "update" {
				t.Fatalf("calls %v: the record must be read before anything is written", b.org.CallLog()[before:])
			}
			// Latest wins (the default): the user's later edit stays and
			// reaches billing; the conflict is on record.
			b.policyOutcome(t, billsync.PolicyLatestWins, o, sfID, billsync.SideSalesforce)
		})
	}
}
