package salesforce

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const cdcAccountChannel = "/data/BillingAccount__ChangeEvent"

func cdcHeader(t *testing.T, p map[string]any) map[string]any {
	t.Helper()
	h, ok := p["ChangeEventHeader"].(map[string]any)
	if !ok {
		t.Fatalf("no ChangeEventHeader in %v", p)
	}
	return h
}

// TestCDCEvents: every user's writes to a synced object publish change
// events on the object's channel, with the header naming the committing
// user, and an update carrying only the fields it changed.
func TestCDCEvents(t *testing.T) {
	o := newTestOrg(t, Options{})
	integ, sales := o.token(IntegrationUsername), o.token(SalesUsername)
	r := o.do(integ, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"Name": "Acme", "BillingId__c": "acc-1", "Email__c": "a@b.co"})
	if r.Status != 201 {
		t.Fatalf("create %d %s", r.Status, r.Body)
	}
	id := r.obj(t)["id"].(string)
	if r := o.do(sales, "PATCH", v+"/sobjects/BillingAccount__c/"+id, map[string]any{"Email__c": "new@b.co"}); r.Status != 204 {
		t.Fatalf("update %d %s", r.Status, r.Body)
	}
	evs := o.e.Bus().Events(cdcAccountChannel)
	if len(evs) != 2 {
		t.Fatalf("%d change events, want 2: %v", len(evs), evs)
	}
	create, update := cdcHeader(t, evs[0].Payload), cdcHeader(t, evs[1].Payload)
	if create["changeType"] != "CREATE" || create["commitUser"] != o.e.UserID(IntegrationUsername) || create["entityName"] != "BillingAccount__c" {
		t.Errorf("create header %v", create)
	}
	if evs[0].Payload["Name"] != "Acme" {
		t.Errorf("create body %v", evs[0].Payload)
	}
	if update["changeType"] != "UPDATE" || update["commitUser"] != o.e.UserID(SalesUsername) || !cmp.Equal(update["recordIds"], []any{id}) {
		t.Errorf("update header %v", update)
	}
	if _, ok := update["commitTimestamp"].(json.Number); !ok {
		t.Errorf("commitTimestamp %T, want a number", update["commitTimestamp"])
	}
	changed, _ := update["changedFields"].([]any)
	has := map[any]bool{}
	for _, f := range changed {
		has[f] = true
	}
	if !has["Email__c"] || !has["LastModifiedDate"] || has["Name"] {
		t.Errorf("changedFields %v", changed)
	}
	if evs[1].Payload["Email__c"] != "new@b.co" || evs[1].Payload["Name"] != nil || evs[1].Payload["CreatedDate"] != nil {
		t.Errorf("update body holds more than the changed fields: %v", evs[1].Payload)
	}
}

// TestCDCDeselectAndGap: a deselected object publishes nothing; the gap
// hook turns writes into gap events without field values; the overflow
// hook names the object and no records.
func TestCDCDeselectAndGap(t *testing.T) {
	o := newTestOrg(t, Options{})
	sales := o.token(SalesUsername)
	if got := o.e.CDCSelectedEntities(); !cmp.Equal(got, []string{"BillingAccount__ChangeEvent", "BillingBalanceTransaction__ChangeEvent", "BillingBalance__ChangeEvent"}) {
		t.Errorf("selected by default %v, want the synced objects", got)
	}
	o.e.SelectCDC("BillingAccount__c", false)
	r := o.do(sales, "POST", v+"/sobjects/BillingAccount__c", map[string]any{"Name": "Acme", "BillingId__c": "acc-1", "Email__c": "a@b.co"})
	if r.Status != 201 {
		t.Fatalf("create %d %s", r.Status, r.Body)
	}
	id := r.obj(t)["id"].(string)
	if n := len(o.e.Bus().Events(cdcAccountChannel)); n != 0 {
		t.Fatalf("deselected object published %d change events", n)
	}
	for _, e := range o.e.CDCSelectedEntities() {
		if e == "BillingAccount__ChangeEvent" {
			t.Errorf("deselected entity still listed: %v", o.e.CDCSelectedEntities())
		}
	}
	o.e.SelectCDC("BillingAccount__c", true)
	o.e.ForceCDCGap("BillingAccount__c", true)
	if r := o.do(sales, "PATCH", v+"/sobjects/BillingAccount__c/"+id, map[string]any{"Email__c": "gap@b.co"}); r.Status != 204 {
		t.Fatalf("update %d %s", r.Status, r.Body)
	}
	o.e.PublishCDCOverflow("BillingAccount__c", o.e.UserID(SalesUsername))
	evs := o.e.Bus().Events(cdcAccountChannel)
	if len(evs) != 2 {
		t.Fatalf("%d change events, want 2", len(evs))
	}
	gap := cdcHeader(t, evs[0].Payload)
	if gap["changeType"] != "GAP_UPDATE" || !cmp.Equal(gap["recordIds"], []any{id}) || len(evs[0].Payload) != 1 {
		t.Errorf("gap event %v", evs[0].Payload)
	}
	over := cdcHeader(t, evs[1].Payload)
	if over["changeType"] != "GAP_OVERFLOW" || over["entityName"] != "BillingAccount__c" || len(over["recordIds"].([]any)) != 0 {
		t.Errorf("overflow event %v", evs[1].Payload)
	}
}

// An org without BillingSyncTrigger (Options.NoTrigger): nothing refuses
// the integration user's write at a stale revision, nothing stamps a
// user's write, and no write publishes the trigger's platform event;
// change events are published as before. SetTrigger deploys it again.
func TestNoTrigger(t *testing.T) {
	o := newTestOrg(t, Options{NoTrigger: true})
	integ, sales := o.token(IntegrationUsername), o.token(SalesUsername)
	path := v + "/sobjects/BillingAccount__c/"
	id := o.do(integ, "POST", path, map[string]any{"Name": "Acme", "BillingId__c": "r-1"}).obj(t)["id"].(string)
	o.do(sales, "PATCH", path+id, map[string]any{"Name": "Acme (sales)"})
	if r := o.do(integ, "PATCH", path+id, map[string]any{"Name": "Acme (billing)", "BillingSyncRevision__c": 7}); r.Status != 204 {
		t.Fatalf("a stale revision was refused without the trigger: %d %s", r.Status, r.Body)
	}
	rec, _ := o.e.Record("BillingAccount__c", id)
	if rec.Str("Name") != "Acme (billing)" || rec.Str("LastSystemToUpdate__c") == "sfdc" {
		t.Fatalf("record %v", rec)
	}
	if n := len(o.e.Bus().Events(eventChannel(o.e.eventObject()))); n != 0 {
		t.Fatalf("%d platform events published without the trigger", n)
	}
	if n := len(o.e.Bus().Events(cdcChannel("BillingAccount__c"))); n != 3 {
		t.Fatalf("%d change events, want 3", n)
	}
	o.e.SetTrigger(true)
	o.do(sales, "PATCH", path+id, map[string]any{"Name": "Acme (sales again)"})
	if r := o.do(integ, "PATCH", path+id, map[string]any{"Name": "lost?", "BillingSyncRevision__c": 7}); r.Status != 400 {
		t.Fatalf("a stale revision with the trigger deployed: %d %s", r.Status, r.Body)
	}
	if n := len(o.e.Bus().Events(eventChannel(o.e.eventObject()))); n != 1 {
		t.Fatalf("%d platform events with the trigger deployed, want 1", n)
	}
}
