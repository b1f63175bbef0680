package salesforce

import (
	"testing"

	"github.com/billsync/billsync/sfdx"
)

// SPEC D4: billsync's full write of a record it has no sync state for is
// an upsert by billing id carrying revision 0. Creating, it is accepted
// (insert starts every record at 0, as BillingSyncTrigger.beforeInsert
// does); matching a record nobody edited since, it passes; matching one a
// user has edited since (a create whose answer was lost, then an edit),
// it is refused with the handler's text, and the edit stays.
func TestRevisionRuleUpsert(t *testing.T) {
	o := newTestOrg(t, Options{})
	integ, sales := o.token(IntegrationUsername), o.token(SalesUsername)
	meta, err := sfdx.Schema()
	if err != nil {
		t.Fatal(err)
	}
	upsert := func(name string) map[string]any {
		t.Helper()
		res := o.do(integ, "PATCH", v+"/composite/sobjects/BillingAccount__c/BillingId__c", map[string]any{"allOrNone": false, "records": []any{
			map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"}, "BillingId__c": "u-1", "Name": name, "BillingSyncRevision__c": 0},
		}}).arr(t)
		return res[0].(map[string]any)
	}
	created := upsert("Acme")
	id, _ := created["id"].(string)
	if created["success"] != true || created["created"] != true || o.revision(id) != "0" {
		t.Fatalf("create with revision 0: %v, revision %s", created, o.revision(id))
	}
	if again := upsert("Acme"); again["success"] != true || again["created"] != false || o.revision(id) != "0" {
		t.Fatalf("unedited record: %v, revision %s", again, o.revision(id))
	}
	if r := o.do(sales, "PATCH", v+"/sobjects/BillingAccount__c/"+id, map[string]any{"Name": "Sales name"}); r.Status != 204 {
		t.Fatalf("sales edit: %d %s", r.Status, r.Body)
	}
	refused := upsert("Acme")
	errs, _ := refused["errors"].([]any)
	if refused["success"] != false || len(errs) != 1 {
		t.Fatalf("edited record: %v", refused)
	}
	if e0 := errs[0].(map[string]any); e0["statusCode"] != "FIELD_CUSTOM_VALIDATION_EXCEPTION" || e0["message"] != meta.Rule.StaleRevision {
		t.Fatalf("refusal %v", e0)
	}
	if r, _ := o.e.Record("BillingAccount__c", id); r["Name"] != "Sales name" {
		t.Fatalf("name %v, want the sales user's", r["Name"])
	}
}
