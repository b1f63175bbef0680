package salesforce

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/billsync/billsync/sfdx"
)

// revision reads a stored record's revision.
func (o *testOrg) revision(id string) string {
	o.t.Helper()
	r, ok := o.e.Record("BillingAccount__c", id)
	if !ok {
		o.t.Fatalf("no record %s", id)
	}
	return fmt.Sprint(revisionOf(r["BillingSyncRevision__c"]))
}

// SPEC D4: the emulator applies BillingSyncTrigger's revision rule as the
// Apex handler does (BillingSyncTriggerTest covers the same cases).
func TestRevisionRule(t *testing.T) {
	o := newTestOrg(t, Options{})
	integ, sales := o.token(IntegrationUsername), o.token(SalesUsername)
	meta, err := sfdx.Schema()
	if err != nil {
		t.Fatal(err)
	}
	path := v + "/sobjects/BillingAccount__c/"

	// Every record starts at 0, whoever creates it and whatever they send.
	mine := o.do(integ, "POST", path, map[string]any{"Name": "Acme", "BillingId__c": "r-1", "BillingSyncRevision__c": 7}).obj(t)["id"].(string)
	theirs := o.do(sales, "POST", path, map[string]any{"Name": "Globex", "BillingSyncRevision__c": 7}).obj(t)["id"].(string)
	if o.revision(mine) != "0" || o.revision(theirs) != "0" {
		t.Fatalf("revisions after insert: %s, %s", o.revision(mine), o.revision(theirs))
	}

	// A user's edit adds one, whatever the user sends.
	o.do(sales, "PATCH", path+mine, map[string]any{"Name": "Acme (sales)"})
	o.do(sales, "PATCH", path+mine, map[string]any{"BillingSyncRevision__c": 42})
	if o.revision(mine) != "2" {
		t.Fatalf("revision after two user edits = %s, want 2", o.revision(mine))
	}

	// The integration user at the current revision passes and keeps it;
	// without a revision the write is not conditional.
	if r := o.do(integ, "PATCH", path+mine, map[string]any{"Name": "Acme (billing)", "BillingSyncRevision__c": 2}); r.Status != 204 {
		t.Fatalf("current revision refused: %d %s", r.Status, r.Body)
	}
	if r := o.do(integ, "PATCH", path+mine, map[string]any{"BillingSyncStatus__c": "success"}); r.Status != 204 {
		t.Fatalf("write without a revision refused: %d %s", r.Status, r.Body)
	}
	if o.revision(mine) != "2" {
		t.Fatalf("integration writes moved the revision to %s", o.revision(mine))
	}

	// A stale revision: 400 with the handler's text, nothing written.
	r := o.do(integ, "PATCH", path+mine, map[string]any{"Name": "lost?", "BillingSyncRevision__c": 1})
	errs := r.arr(t)
	e0, _ := errs[0].(map[string]any)
	if r.Status != 400 || e0["errorCode"] != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || e0["message"] != meta.Rule.StaleRevision {
		t.Fatalf("stale write: %d %s", r.Status, r.Body)
	}
	if rec, _ := o.e.Record("BillingAccount__c", mine); rec["Name"] != "Acme (billing)" {
		t.Fatalf("stale write changed the record: %v", rec["Name"])
	}

	// In a collection, only the stale record is refused.
	res := o.do(integ, "PATCH", v+"/composite/sobjects", map[string]any{"allOrNone": false, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"}, "Id": mine, "Name": "A", "BillingSyncRevision__c": json.Number("1")},
		map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"}, "Id": theirs, "Name": "G", "BillingSyncRevision__c": json.Number("0")},
	}}).arr(t)
	first, second := res[0].(map[string]any), res[1].(map[string]any)
	fe := first["errors"].([]any)[0].(map[string]any)
	if first["success"] != false || fe["statusCode"] != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || fe["message"] != meta.Rule.StaleRevision || second["success"] != true {
		t.Fatalf("collection results %v", res)
	}
	if a, _ := o.e.Record("BillingAccount__c", mine); a["Name"] != "Acme (billing)" {
		t.Errorf("refused record written: %v", a["Name"])
	}
	if g, _ := o.e.Record("BillingAccount__c", theirs); g["Name"] != "G" {
		t.Errorf("the other record not written: %v", g["Name"])
	}
}

// SetBeforeWrite lets a user's edit land between a client's decision and
// its write: the integration write, decided at revision 0, is refused.
func TestBeforeWriteHook(t *testing.T) {
	o := newTestOrg(t, Options{})
	integ, sales := o.token(IntegrationUsername), o.token(SalesUsername)
	id := o.do(integ, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"Name": "Acme", "BillingId__c": "h-1"}).obj(t)["id"].(string)

	var mu sync.Mutex
	var seen []Write
	o.e.SetBeforeWrite(func(w Write) {
		mu.Lock()
		seen = append(seen, w)
		first := len(seen) == 1
		mu.Unlock()
		if first && w.Integration && w.Object == "BillingAccount__c" && w.Names(id) {
			if r := o.do(sales, "PATCH", v+"/sobjects/BillingAccount__c/"+id, map[string]any{"Name": "Acme (sales)"}); r.Status != 204 {
				t.Errorf("sales edit: %d %s", r.Status, r.Body)
			}
		}
	})
	res := o.do(integ, "PATCH", v+"/composite/sobjects", map[string]any{"records": []any{
		map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"}, "Id": id, "Name": "Acme (billing)", "BillingSyncRevision__c": 0},
	}}).arr(t)
	if res[0].(map[string]any)["success"] != false {
		t.Fatalf("the write decided before the edit went through: %v", res)
	}
	if r, _ := o.e.Record("BillingAccount__c", id); r["Name"] != "Acme (sales)" {
		t.Fatalf("name %v, want the sales user's", r["Name"])
	}
	o.e.SetBeforeWrite(nil)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Op != "update" || !seen[0].Integration || seen[1].Integration || seen[1].Username != SalesUsername || !seen[1].Names(id) {
		t.Fatalf("hook saw %+v", seen)
	}
}
