package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

func accountObject(t *testing.T) *mapping.Object {
	t.Helper()
	om, ok := mapping.Default().Object(billsync.ObjectAccount)
	if !ok {
		t.Fatal("no account mapping")
	}
	return om
}

// sfAccount is a Salesforce account record as a resync reads it.
func sfAccount(id, billingID, name, code string) billsync.SObject {
	r := billsync.SObject{"Id": id, "Name": name, "Code__c": code, "Currency__c": "USD"}
	if billingID != "" {
		r["BillingId__c"] = billingID
	}
	return r
}

func billingAccount(t *testing.T, id, name, code string) billsync.Entity {
	return ent(t, fmt.Sprintf(`{"id":%q,"name":%q,"code":%q,"currency":"USD","version":1}`, id, name, code))
}

// H2, H1: planResync decides every difference and its repair from what
// was read, one row per situation.
func TestPlanResync(t *testing.T) {
	t.Parallel()
	const sf1, sf2, sf3 = "a01000000000001AAA", "a01000000000002AAA", "a01000000000003AAA"
	for _, tc := range []struct {
		name    string
		req     billsync.ResyncRequest
		billing []billsync.Entity
		rows    []billsync.SObject
		linked  map[string]string
		policy  string
		want    []string // kind|billing id|Salesforce id|action|repair (source:record, link)
	}{
		{name: "in sync",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme", "ACME")},
			rows:    []billsync.SObject{sfAccount(sf1, "acc_1", "Acme", "ACME")},
			linked:  map[string]string{"acc_1": sf1},
			want:    []string{"||||"}},
		{name: "B4 missing in Salesforce",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme", "ACME")},
			want:    []string{"missing_in_salesforce|acc_1||create in Salesforce|billing:acc_1"}},
		{name: "D1 fields differ, sorted",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme Ltd", "ACME2")},
			rows:    []billsync.SObject{sfAccount(sf1, "acc_1", "Acme", "ACME")},
			linked:  map[string]string{"acc_1": sf1},
			want:    []string{"fields_differ[code name]|acc_1|" + sf1 + "|reconcile fields (conflict policy applies)|billing:acc_1"}},
		{name: "H2 external id edited in Salesforce: restored, not created (nor the twin deleted)",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme", "ACME")},
			rows:    []billsync.SObject{sfAccount(sf1, "tampered", "Acme", "ACME")},
			linked:  map[string]string{"acc_1": sf1},
			policy:  billsync.DeleteMirror,
			want:    []string{`unlinked|acc_1|` + sf1 + `|restore BillingId__c to acc_1 (edited in Salesforce to "tampered")|billing:acc_1`}},
		{name: "H2 external id cleared in Salesforce, fields differ",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme Ltd", "ACME")},
			rows:    []billsync.SObject{sfAccount(sf1, "", "Acme", "ACME")},
			linked:  map[string]string{"acc_1": sf1},
			want:    []string{`unlinked[name]|acc_1|` + sf1 + `|restore BillingId__c to acc_1 (edited in Salesforce to ""), then reconcile fields (conflict policy applies)|billing:acc_1`}},
		{name: "equal but never linked here",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme", "ACME")},
			rows:    []billsync.SObject{sfAccount(sf1, "acc_1", "Acme", "ACME")},
			want:    []string{"unlinked|acc_1|" + sf1 + "|record the link|billing:acc_1"}},
		{name: "equal but the state names another record",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme", "ACME")},
			rows:    []billsync.SObject{sfAccount(sf1, "acc_1", "Acme", "ACME")},
			linked:  map[string]string{"acc_1": sf2},
			want:    []string{"unlinked|acc_1|" + sf1 + "|record the link|billing:acc_1"}},
		{name: "H1 deleted in billing, mirror",
			rows:   []billsync.SObject{sfAccount(sf1, "acc_gone", "Gone", "G")},
			policy: billsync.DeleteMirror,
			want:   []string{"missing_in_billing|acc_gone|" + sf1 + "|delete in Salesforce (deleted in billing; deletes.account is mirror)|salesforce:" + sf1}},
		{name: "H1 deleted in billing, flag",
			rows:   []billsync.SObject{sfAccount(sf1, "acc_gone", "Gone", "G")},
			policy: billsync.DeleteFlag,
			want:   []string{"missing_in_billing|acc_gone|" + sf1 + "|flag IsDeletedInBilling__c (deleted in billing)|salesforce:" + sf1}},
		{name: "H1 deleted in billing, ignore",
			rows:   []billsync.SObject{sfAccount(sf1, "acc_gone", "Gone", "G")},
			policy: billsync.DeleteIgnore,
			want:   []string{"missing_in_billing|acc_gone|" + sf1 + "|none: deleted in billing and deletes.account is ignore|"}},
		{name: "duplicate billing ids: the last record counts once",
			rows:   []billsync.SObject{sfAccount(sf1, "acc_gone", "Gone", "G"), sfAccount(sf2, "acc_gone", "Gone", "G")},
			policy: billsync.DeleteMirror,
			want:   []string{"missing_in_billing|acc_gone|" + sf2 + "|delete in Salesforce (deleted in billing; deletes.account is mirror)|salesforce:" + sf2}},
		{name: "C3 created in Salesforce",
			rows: []billsync.SObject{sfAccount(sf1, "", "New", "NEW")},
			want: []string{"missing_in_billing||" + sf1 + "|create in billing|salesforce:" + sf1}},
		{name: "H2 initial load links by code, case-insensitively",
			req:     billsync.ResyncRequest{Initial: true},
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme", "ACME"), billingAccount(t, "acc_2", "Beta", "BETA")},
			rows:    []billsync.SObject{sfAccount(sf1, "", "Acme Inc", "acme"), sfAccount(sf2, "", "Other", "OTHER")},
			want: []string{"||||", "missing_in_salesforce|acc_2||create in Salesforce|billing:acc_2",
				"unlinked|acc_1|" + sf1 + "|link by code|salesforce:" + sf1 + " link acc_1",
				"missing_in_billing||" + sf2 + "|create in billing|salesforce:" + sf2}},
		{name: "without --initial nothing is linked by code",
			billing: []billsync.Entity{billingAccount(t, "acc_1", "Acme", "ACME")},
			rows:    []billsync.SObject{sfAccount(sf1, "", "Acme", "ACME")},
			want: []string{"missing_in_salesforce|acc_1||create in Salesforce|billing:acc_1",
				"missing_in_billing||" + sf1 + "|create in billing|salesforce:" + sf1}},
		{name: "one record by billing id",
			req:     billsync.ResyncRequest{Object: billsync.ObjectAccount, Record: "acc_2"},
			billing: []billsync.Entity{billingAccount(t, "acc_1", "A", "A"), billingAccount(t, "acc_2", "B", "B")},
			rows:    []billsync.SObject{sfAccount(sf3, "", "C", "C")},
			want:    []string{"missing_in_salesforce|acc_2||create in Salesforce|billing:acc_2"}},
		{name: "one record by Salesforce id",
			req:     billsync.ResyncRequest{Object: billsync.ObjectAccount, Record: sf3},
			billing: []billsync.Entity{billingAccount(t, "acc_1", "A", "A"), billingAccount(t, "acc_2", "B", "B")},
			rows:    []billsync.SObject{sfAccount(sf2, "acc_2", "B", "B"), sfAccount(sf3, "", "C", "C")},
			want:    []string{"missing_in_billing||" + sf3 + "|create in billing|salesforce:" + sf3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := &resyncSnapshot{om: accountObject(t), billing: tc.billing, rows: tc.rows, linked: tc.linked, deletePolicy: tc.policy}
			p, err := planResync("rs_1", tc.req, snap, fixedNow)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range p.items {
				got = append(got, describeItem(t, it))
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("items (-want +got):\n%s", d)
			}
			if p.apiCalls != 1 {
				t.Errorf("api calls %d", p.apiCalls)
			}
		})
	}
}

func describeItem(t *testing.T, it resyncItem) string {
	t.Helper()
	d := it.diff
	kind := d.Kind
	if len(d.Fields) > 0 {
		kind += fmt.Sprint(d.Fields)
	}
	repair := ""
	if c := it.repair; c != nil {
		var p resyncPayload
		if err := json.Unmarshal(c.Payload, &p); err != nil || p.Job != "rs_1" {
			t.Errorf("repair payload %s", c.Payload)
		}
		if c.Op != billsync.OpResync || c.Object != billsync.ObjectAccount || c.EventID != "resync:rs_1:account:"+c.RecordID || !c.EnqueuedAt.Equal(fixedNow) {
			t.Errorf("repair %+v", c)
		}
		wantPart := billsync.AccountPartition(c.RecordID)
		if c.Source == billsync.SideSalesforce {
			wantPart = billsync.RecordPartition(c.RecordID)
		}
		if c.Partition != wantPart {
			t.Errorf("repair of %s in partition %s", c.RecordID, c.Partition)
		}
		repair = string(c.Source) + ":" + c.RecordID
		if p.Link != "" {
			repair += " link " + p.Link
		}
	}
	return strings.Join([]string{kind, d.BillingID, d.SalesforceID, d.Action, repair}, "|")
}

// A child's repair goes to its account's partition; a read of thousands
// of records is counted by its query pages.
func TestPlanResyncPartitionsAndCalls(t *testing.T) {
	t.Parallel()
	om, _ := mapping.Default().Object(billsync.ObjectBalance)
	var rows []billsync.SObject
	for i := range 4001 {
		rows = append(rows, billsync.SObject{"Id": fmt.Sprintf("a02%015d", i), "BillingId__c": fmt.Sprintf("bal_x%d", i)})
	}
	snap := &resyncSnapshot{om: om, rows: rows, billing: []billsync.Entity{ent(t, `{"id":"bal_1","accountId":"acc_7","name":"B","amount":"1.00","version":1}`)}}
	p, err := planResync("rs_1", billsync.ResyncRequest{}, snap, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if p.apiCalls != 3 || len(p.items) != 4002 || p.items[0].repair.Partition != "account:acc_7" || p.items[1].repair != nil {
		t.Fatalf("calls %d, %d items, first %+v", p.apiCalls, len(p.items), p.items[0])
	}
}

// waitResync polls a resync's report until it is no longer running.
func waitResync(t *testing.T, e *Engine, id string) *billsync.ResyncReport {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r, err := e.Resync(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != "running" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("resync %s still running: %+v", id, r)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitWake waits for the engine to wake the runner.
func (b *bundle) waitWake(t *testing.T) {
	t.Helper()
	select {
	case <-b.wakes:
	case <-time.After(20 * time.Second):
		t.Fatal("the runner was not woken")
	}
}

// drain applies every queued change with the engine, as the runner
// would, and returns the changes' own log entries.
func (b *bundle) drain(t *testing.T) []billsync.LogEntry {
	t.Helper()
	ctx := context.Background()
	var out []billsync.LogEntry
	for range 50 {
		cs, err := b.store.Claim(ctx, 100, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			return out
		}
		for _, c := range cs {
			r := b.engine.Process(ctx, c)
			out = append(out, only(t, r))
			switch r.Disposition.String() {
			case "done":
				err = b.store.Complete(ctx, c.ID, r.Entries...)
			case "retry":
				err = b.store.Retry(ctx, c.ID, r.RetryAt, billsync.ErrorMessage(r.Err), r.Entries...)
			default:
				err = b.store.Bury(ctx, c.ID, billsync.RemoteCode(r.Err), billsync.ErrorMessage(r.Err), r.Entries...)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("the queue does not drain")
	return nil
}

// H2, H4: a dry run reports and queues nothing; a resync queues repairs
// that, applied, leave both sides in sync; a second resync finds nothing.
func TestResyncRepairsDrift(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "deletes.account", `"mirror"`)
	// Five records: one delete is past the guard's default 10 %; this
	// test is about repairs (guard_test.go is about the guard).
	b.set(t, "guard.deletes.account", `{"percent":100,"count":1000}`)
	b.set(t, "guard.overwrites.account", `{"percent":100,"count":1000}`)
	// acc_1 in sync; acc_2 renamed in Salesforce behind billsync's back;
	// acc_3 never reached Salesforce; Salesforce holds a record whose
	// billing account was deleted, and one created there.
	for _, js := range []string{acc1, `{"id":"acc_2","code":"B","name":"Beta","currency":"USD","version":1}`} {
		b.putBilling(t, billsync.ObjectAccount, js)
		b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, js))
	}
	b.userEdit(b.sf("BillingAccount__c", "acc_2").ID(), "Name", "Beta (edited in Salesforce)")
	b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_3","code":"C","name":"Gamma","currency":"USD","version":1}`)
	orphan := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_gone", "Name": "Gone"})
	fresh := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Delta", "Code__c": "D", "Currency__c": "EUR"})

	r, err := b.engine.StartResync(ctx, billsync.ResyncRequest{DryRun: true})
	if err != nil || !strings.HasPrefix(r.ID, "rs_") || r.Request != (billsync.ResyncRequest{DryRun: true}) {
		t.Fatalf("StartResync: %+v %v", r, err)
	}
	dry := waitResync(t, b.engine, r.ID)
	kinds := map[string]string{}
	for _, d := range dry.Diffs {
		kinds[d.BillingID+d.SalesforceID] = d.Kind
		if d.Kind == billsync.DiffFields {
			// The report shows what the repair would change, with values.
			want := []billsync.DiffValue{{Field: "name", Billing: "Beta", Salesforce: "Beta (edited in Salesforce)"}}
			if diff := cmp.Diff(want, d.Values); diff != "" {
				t.Errorf("values of the differing fields (-want +got):\n%s", diff)
			}
		}
	}
	wantKinds := map[string]string{
		"acc_2" + b.sf("BillingAccount__c", "acc_2").ID(): billsync.DiffFields,
		"acc_3":             billsync.DiffMissingInSalesforce,
		"acc_gone" + orphan: billsync.DiffMissingInBilling,
		fresh:               billsync.DiffMissingInBilling,
	}
	if d := cmp.Diff(wantKinds, kinds); d != "" || dry.State != "done" || dry.Total != 5 || dry.Compared != 5 || dry.Differences != 4 ||
		dry.Repairs != 0 || dry.APICalls != 3+4*2 { // a query per object type, a read and a write per repair
		t.Fatalf("dry run report %+v, kinds (-want +got):\n%s", dry, d)
	}
	if q := b.store.Queued(); len(q) != 0 {
		t.Fatalf("a dry run queued %+v", q)
	}
	b.waitWake(t)

	r, err = b.engine.StartResync(ctx, billsync.ResyncRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if rep := waitResync(t, b.engine, r.ID); rep.State != "done" || rep.Repairs != 4 || len(b.store.Queued()) != 4 {
		t.Fatalf("report %+v, queued %+v", rep, b.store.Queued())
	}
	b.waitWake(t)
	for _, le := range b.drain(t) {
		if le.Outcome != billsync.OutcomeSuccess {
			t.Errorf("repair %+v", le)
		}
	}
	if got, _ := b.billing.Get(ctx, billsync.ObjectAccount, "acc_2"); got.Str("name") != "Beta (edited in Salesforce)" {
		t.Errorf("acc_2 in billing %v", got)
	}
	if b.sf("BillingAccount__c", "acc_3") == nil || b.org.Get(orphan) != nil || b.org.Get(fresh).Str("BillingId__c") == "" {
		t.Errorf("after repair: acc_3 %v, orphan %v, fresh %v", b.sf("BillingAccount__c", "acc_3"), b.org.Get(orphan), b.org.Get(fresh))
	}
	r, _ = b.engine.StartResync(ctx, billsync.ResyncRequest{Object: billsync.ObjectAccount})
	if rep := waitResync(t, b.engine, r.ID); rep.Differences != 0 || rep.Compared != 4 {
		t.Fatalf("after repair the resync finds %+v", rep)
	}
}

// H2: an initial load links a Salesforce record to the billing record
// with its code instead of creating a second one.
func TestResyncInitialLoadLinksByCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	existing := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Acme Inc", "Code__c": "acme", "Currency__c": "USD"})
	r, err := b.engine.StartResync(ctx, billsync.ResyncRequest{Object: billsync.ObjectAccount, Initial: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep := waitResync(t, b.engine, r.ID); rep.Differences != 1 || rep.Diffs[0].Action != "link by code" {
		t.Fatalf("report %+v", rep)
	}
	for _, le := range b.drain(t) {
		if le.Outcome != billsync.OutcomeSuccess && le.Outcome != billsync.OutcomeConflict {
			t.Errorf("repair %+v", le)
		}
	}
	if n := len(b.org.All("BillingAccount__c")); n != 1 {
		t.Fatalf("%d Salesforce accounts, want the existing one linked", n)
	}
	if got := b.org.Get(existing); got.Str("BillingId__c") != "acc_1" {
		t.Fatalf("existing record %v", got)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st == nil || st.SalesforceID != existing {
		t.Fatalf("state %+v", st)
	}
}

// StartResync refuses what it cannot do, and a failed read fails the
// resync with its reason.
func TestResyncRefusalsAndFailures(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	for _, tc := range []struct {
		req  billsync.ResyncRequest
		code string
	}{
		{billsync.ResyncRequest{Record: "acc_1"}, billsync.EINVALID},
		{billsync.ResyncRequest{Object: billsync.ObjectQuote}, billsync.EINVALID},
	} {
		if _, err := b.engine.StartResync(ctx, tc.req); billsync.ErrorCode(err) != tc.code {
			t.Errorf("%+v: %v, want %s", tc.req, err, tc.code)
		}
	}
	if _, err := b.engine.Resync(ctx, "rs_nope"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("unknown resync: %v", err)
	}
	noQueue, err := New(Config{Settings: b.store, State: b.store, Conflicts: b.store, CRM: b.org, Billing: b.billing})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noQueue.StartResync(ctx, billsync.ResyncRequest{}); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("repair without a queue: %v", err)
	}

	down := errors.New("billing is down")
	b.billing.Hook = func(context.Context, mock.BillingCall) error { return down }
	r, err := b.engine.StartResync(ctx, billsync.ResyncRequest{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep := waitResync(t, b.engine, r.ID); rep.State != "failed" || rep.Error != "listing billing account: billing is down" {
		t.Fatalf("report %+v", rep)
	}
	b.billing.Hook = nil
	b.org.Hook = func(ctx context.Context, c mock.Call) error { return down }
	r, _ = b.engine.StartResync(ctx, billsync.ResyncRequest{DryRun: true})
	if rep := waitResync(t, b.engine, r.ID); rep.State != "failed" || rep.Error != "querying Salesforce BillingAccount__c: billing is down" {
		t.Fatalf("report %+v", rep)
	}
}

// H1, H2: repairs of Salesforce records whose billing record is gone,
// under each delete policy; decideSalesforceRepair says which.
func TestDecideSalesforceRepair(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		billingID, link string
		inBilling       bool
		policy          string
		want            sfRepair
	}{
		{"", "acc_1", false, billsync.DeleteMirror, repairLink},
		{"", "", false, billsync.DeleteMirror, repairCreate},
		{"acc_1", "", true, billsync.DeleteMirror, repairReconcile},
		{"acc_1", "acc_9", true, billsync.DeleteIgnore, repairReconcile},
		{"acc_1", "", false, billsync.DeleteMirror, repairDelete},
		{"acc_1", "", false, billsync.DeleteFlag, repairFlag},
		{"acc_1", "", false, billsync.DeleteIgnore, repairIgnore},
	} {
		if got := decideSalesforceRepair(tc.billingID, tc.link, tc.inBilling, tc.policy); got != tc.want {
			t.Errorf("%+v: %v", tc, got)
		}
	}
}

func resyncChange(source billsync.Side, record string) billsync.Change {
	part := billsync.RecordPartition(record)
	if source == billsync.SideBilling {
		part = billsync.AccountPartition(record)
	}
	return billsync.Change{ID: 9, Partition: part, Source: source, Object: billsync.ObjectAccount, Op: billsync.OpResync,
		RecordID: record, EventID: "resync:rs_1:account:" + record, Payload: json.RawMessage(`{"job":"rs_1"}`), Attempt: 1, EnqueuedAt: fixedNow}
}

func TestResyncRecordOutcomes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, policy := range []string{billsync.DeleteMirror, billsync.DeleteFlag, billsync.DeleteIgnore} {
		b := setup(t)
		b.set(t, "deletes.account", `"`+policy+`"`)
		orphan := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_gone", "Name": "Gone"})
		le := only(t, b.engine.Process(ctx, resyncChange(billsync.SideSalesforce, orphan)))
		switch policy {
		case billsync.DeleteMirror:
			if le.Operation != "delete" || le.Outcome != billsync.OutcomeSuccess || b.org.Get(orphan) != nil {
				t.Errorf("mirror: %+v", le)
			}
		case billsync.DeleteFlag:
			if le.Operation != "flag" || b.org.Get(orphan)[mapping.FieldDeleted] != true {
				t.Errorf("flag: %+v %v", le, b.org.Get(orphan))
			}
		default:
			if le.Reason != billsync.ReasonDeleteIgnored || b.org.Get(orphan) == nil {
				t.Errorf("ignore: %+v", le)
			}
		}
	}

	b := setup(t)
	// The billing record is gone by the time its repair runs.
	if le := only(t, b.engine.Process(ctx, resyncChange(billsync.SideBilling, "acc_gone"))); le.Reason != billsync.ReasonNotFound {
		t.Errorf("gone from billing: %+v", le)
	}
	// The Salesforce record is gone by the time its repair runs.
	if le := only(t, b.engine.Process(ctx, resyncChange(billsync.SideSalesforce, "a01000000000099AAA"))); le.Reason != billsync.ReasonNotFound {
		t.Errorf("gone from Salesforce: %+v", le)
	}
	// A2, A5: with the switch off a repair is skipped, whichever side it
	// starts from, and nothing is written: not a reconcile, a create in
	// billing, or a mirrored delete.
	b.set(t, billsync.KeySyncAccounts, `false`)
	b.set(t, "deletes.account", `"mirror"`)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	linked := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_1", "Name": "Other"})
	created := b.org.Put("BillingAccount__c", billsync.SObject{"Name": "Made in Salesforce"})
	orphan := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_gone", "Name": "Gone"})
	writes, billingWrites := b.org.Writes(), b.billing.Writes()
	for _, c := range []billsync.Change{resyncChange(billsync.SideBilling, "acc_1"), resyncChange(billsync.SideSalesforce, linked),
		resyncChange(billsync.SideSalesforce, created), resyncChange(billsync.SideSalesforce, orphan)} {
		if le := only(t, b.engine.Process(ctx, c)); le.Reason != billsync.ReasonSwitchOff {
			t.Errorf("switch off: %+v", le)
		}
	}
	if b.org.Writes() != writes || b.billing.Writes() != billingWrites || b.org.Get(orphan) == nil {
		t.Errorf("a repair wrote with the switch off: %v", b.org.CallLog())
	}
	// An unmapped object.
	c := resyncChange(billsync.SideBilling, "q1")
	c.Object = billsync.ObjectQuote
	if le := only(t, b.engine.Process(ctx, c)); le.Reason != billsync.ReasonUnsupported {
		t.Errorf("quote resync: %+v", le)
	}
}

// A billing record never linked here is reconciled with the Salesforce
// record carrying its id, billing's values counting as the agreed base (so
// what differs in Salesforce is a Salesforce edit); a balance new to
// Salesforce is created under it.
func TestResyncFromBillingLinksAndCreates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.putBilling(t, billsync.ObjectAccount, acc1)
	twin := b.org.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_1", "Name": "Acme", "Code__c": "OLD", "Currency__c": "USD"})
	le := only(t, b.engine.Process(ctx, resyncChange(billsync.SideBilling, "acc_1")))
	if got, _ := b.billing.Get(ctx, billsync.ObjectAccount, "acc_1"); le.Outcome != billsync.OutcomeSuccess || le.SalesforceID != twin || got.Str("code") != "OLD" {
		t.Fatalf("%+v, billing %v", le, got)
	}
	if st := b.state(t, billsync.ObjectAccount, "acc_1"); st == nil || st.SalesforceID != twin {
		t.Fatalf("state %+v", st)
	}
	b.putBilling(t, billsync.ObjectBalance, `{"id":"bal_1","accountId":"acc_1","name":"Prepaid","amount":"5.00","currency":"USD","version":1}`)
	c := resyncChange(billsync.SideBilling, "bal_1")
	c.Object = billsync.ObjectBalance
	le = only(t, b.engine.Process(ctx, c))
	if le.Operation != "create" || b.sf("BillingBalance__c", "bal_1").Str("BillingAccount__c") != twin {
		t.Fatalf("%+v, balance %v", le, b.sf("BillingBalance__c", "bal_1"))
	}
}

func TestResyncBase(t *testing.T) {
	t.Parallel()
	om, _ := mapping.Default().Object(billsync.ObjectBalance)
	e := ent(t, `{"id":"bal_1","accountId":"acc_1","name":"B","amount":"1.50","version":4}`)
	rec := billsync.SObject{"Id": "a02000000000001AAA"}
	st := &billsync.SyncState{Object: billsync.ObjectBalance, BillingID: "bal_1", SalesforceID: "a02000000000001AAA", Agreed: map[string]string{"name": "X"}}
	if got, _ := resyncBase(om, e, rec, st); got != st {
		t.Errorf("a state naming the record is the base: %+v", got)
	}
	got, err := resyncBase(om, e, rec, nil)
	if err != nil || got.SalesforceID != rec.ID() || got.AccountID != "acc_1" || got.BillingVersion != 4 ||
		got.Agreed["name"] != "B" || got.Agreed["amount"] != "1.5" || got.Agreed["accountId"] != "acc_1" {
		t.Errorf("billing's values as the base: %+v %v", got, err)
	}
}

// A billing-side repair stops at a held conflict, at a Salesforce record
// it cannot read, and at a parent or upsert that fails.
func TestResyncEntityEdges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _, fromBilling, _ := conflictSetup(t, billsync.PolicyManual, fixedNow, fixedNow)
	b.engine.Process(ctx, fromBilling)
	if le := only(t, b.engine.Process(ctx, resyncChange(billsync.SideBilling, "acc_1"))); le.Reason != "held" {
		t.Errorf("held: %+v", le)
	}

	b = setup(t)
	b.synced(t)
	down := errors.New("Salesforce is down")
	b.org.Hook = func(ctx context.Context, c mock.Call) error {
		if c.Method == "retrieveRecords" || c.Method == "query" {
			return down
		}
		return nil
	}
	if le := only(t, b.engine.Process(ctx, resyncChange(billsync.SideBilling, "acc_1"))); le.Operation != "read" || le.Outcome != billsync.OutcomeDead {
		t.Errorf("unreadable twin: %+v", le)
	}

	b = setup(t)
	b.putBilling(t, billsync.ObjectBalance, `{"id":"bal_1","accountId":"acc_gone","name":"B","amount":"1.00","version":1}`)
	bal := resyncChange(billsync.SideBilling, "bal_1")
	bal.Object = billsync.ObjectBalance
	if le := only(t, b.engine.Process(ctx, bal)); le.Outcome != billsync.OutcomeDead || le.ErrorCode != "not_found" {
		t.Errorf("parent gone from billing: %+v", le)
	}
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		if object == "BillingBalance__c" {
			return &billsync.FieldError{StatusCode: "STRING_TOO_LONG", Message: "Name: data value too large"}
		}
		return nil
	}
	b.putBilling(t, billsync.ObjectBalance, `{"id":"bal_1","accountId":"acc_1","name":"B","amount":"1.00","version":1}`)
	if le := only(t, b.engine.Process(ctx, bal)); le.Operation != "upsert" || le.ErrorCode != "STRING_TOO_LONG" {
		t.Errorf("upsert refused: %+v", le)
	}
}

// H2: a synced record whose external id was edited in Salesforce is
// reported with the repair that will happen (the id restored, not a
// create), the repair restores it without creating, deleting or flagging
// anything, and the next resync finds no difference. deletes.account is
// mirror, so a repair that took the twin for an orphan would delete it.
func TestResyncRestoresAnEditedExternalID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tampered := range []string{"edited-by-hand", ""} {
		b := setup(t)
		b.set(t, "deletes.account", `"mirror"`)
		// One record of one is past any share: writing its id back is an
		// overwrite the guard would hold (guard_test covers that).
		b.set(t, "guard.overwrites.account", `{"percent":100,"count":1000}`)
		b.putBilling(t, billsync.ObjectAccount, acc1)
		b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
		twin := b.sf("BillingAccount__c", "acc_1").ID()
		b.userEdit(twin, "BillingId__c", tampered)

		r, _ := b.engine.StartResync(ctx, billsync.ResyncRequest{DryRun: true})
		dry := waitResync(t, b.engine, r.ID)
		want := fmt.Sprintf("restore BillingId__c to acc_1 (edited in Salesforce to %q)", tampered)
		if dry.Differences != 1 || len(dry.Diffs) != 1 || dry.Diffs[0].Action != want || dry.Diffs[0].SalesforceID != twin || dry.Diffs[0].Kind != billsync.DiffUnlinked {
			t.Fatalf("%q: dry run %+v", tampered, dry)
		}
		b.waitWake(t)

		r, _ = b.engine.StartResync(ctx, billsync.ResyncRequest{})
		if rep := waitResync(t, b.engine, r.ID); rep.Repairs != 1 {
			t.Fatalf("%q: report %+v", tampered, rep)
		}
		b.waitWake(t)
		entries := b.drain(t)
		restored := false
		for _, le := range entries {
			restored = restored || (le.Operation == "link" && le.Outcome == billsync.OutcomeSuccess && le.SalesforceID == twin)
			if le.Outcome == billsync.OutcomeFailed {
				t.Errorf("%q: repair %+v", tampered, le)
			}
		}
		if !restored {
			t.Errorf("%q: no entry tells of the restored id: %+v", tampered, entries)
		}
		if got := b.org.Get(twin); got == nil || got.Str("BillingId__c") != "acc_1" || len(b.org.All("BillingAccount__c")) != 1 {
			t.Fatalf("%q: twin after repair %v, %d records", tampered, got, len(b.org.All("BillingAccount__c")))
		}
		if n := len(b.billing.Calls()); b.billing.Writes() != 0 {
			t.Fatalf("%q: billing written (%d calls)", tampered, n)
		}
		r, _ = b.engine.StartResync(ctx, billsync.ResyncRequest{})
		if rep := waitResync(t, b.engine, r.ID); rep.Differences != 0 {
			t.Fatalf("%q: the second resync finds %+v", tampered, rep)
		}
	}
}

// A repair queued from the Salesforce side for a twin whose external id
// was edited (say by a resync planned before the edit was recognised)
// restores the id instead of creating a second billing record.
func TestResyncFromSalesforceRestoresAnEditedExternalID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	b.putBilling(t, billsync.ObjectAccount, acc1)
	b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, acc1))
	twin := b.sf("BillingAccount__c", "acc_1").ID()
	b.userEdit(twin, "BillingId__c", "")
	c := sfChange(billsync.ObjectAccount, twin)
	c.Op, c.Payload = billsync.OpResync, json.RawMessage(`{"job":"rs_x"}`)
	b.engine.Process(ctx, c)
	if got := b.org.Get(twin).Str("BillingId__c"); got != "acc_1" || b.billing.Writes() != 0 {
		t.Fatalf("BillingId__c %q, billing writes %d", got, b.billing.Writes())
	}
}
