package engine

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/sfemutest"
)

// A resync's repair of a record it found missing in Salesforce inserts it
// without reading by external id first (on an initial load that read
// finds nothing and costs a call per record). A twin a sales user created
// after the resync read Salesforce is neither doubled nor overwritten:
// the insert fails DUPLICATE_VALUE, and only then is the twin read and
// reconciled, so the user's value stands.
func TestResyncInsertsMissingRecordsWithoutReading(t *testing.T) {
	org := sfemutest.Start(t, sfemu.Options{})
	emu, rc, sales := org.Emu, org.Integration(t), org.Sales(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	b := setup(t)
	e, err := New(Config{Settings: b.store, State: b.store, Conflicts: b.store, Queue: b.store, Held: b.store, CRM: rc,
		Billing: b.billing, Logger: slog.New(slog.DiscardHandler), Clock: func() time.Time { return fixedNow }, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	b.engine = e
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_2","code":"BETA","name":"Beta","currency":"USD","version":1}`)
	b.putBilling(t, billsync.ObjectBalance, `{"id":"bal_1","accountId":"acc_1","name":"Prepaid","amount":"100.00","currency":"USD","version":1}`)

	r, err := e.StartResync(ctx, billsync.ResyncRequest{Initial: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep := waitResync(t, e, r.ID); rep.State != "done" || rep.Repairs != 3 {
		t.Fatalf("resync %+v", rep)
	}
	// After the resync read Salesforce, a user creates acc_2's twin.
	twin, err := sales.Create(ctx, "BillingAccount__c", []billsync.SObject{{"BillingId__c": "acc_2", "Name": "Beta, as sales named it", "Currency__c": "USD"}})
	if err != nil || !twin[0].Success {
		t.Fatal(twin, err)
	}
	queries := emu.Calls()["query"]
	for _, le := range b.drain(t) {
		if le.Outcome != billsync.OutcomeSuccess {
			t.Errorf("repair %+v", le)
		}
	}
	if n := emu.Calls()["query"] - queries; n != 1 {
		t.Errorf("the repairs made %d queries; want one, for the twin that appeared", n)
	}
	var acc1ID string
	for _, rec := range emu.Records("BillingAccount__c") {
		switch rec.Str("BillingId__c") {
		case "acc_1":
			acc1ID = rec.ID()
		case "acc_2":
			if rec.ID() != twin[0].ID || rec.Str("Name") != "Beta, as sales named it" {
				t.Errorf("acc_2 in Salesforce: %v; want the user's twin, unchanged", rec)
			}
		}
	}
	if n := len(emu.Records("BillingAccount__c")); n != 2 || acc1ID == "" {
		t.Fatalf("%d accounts in Salesforce (acc_1 %q)", n, acc1ID)
	}
	bals := emu.Records("BillingBalance__c")
	if len(bals) != 1 || bals[0].Str("BillingAccount__c") != acc1ID || bals[0].Str("BillingId__c") != "bal_1" {
		t.Errorf("balances %v; want bal_1 under acc_1 (%s)", bals, acc1ID)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_2"); st == nil || st.SalesforceID != twin[0].ID {
		t.Errorf("acc_2's state %+v; want it linked to the user's twin", st)
	}
}
