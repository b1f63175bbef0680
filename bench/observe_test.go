package bench

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/mapping"
)

// TestObserverLanding: a write lands when Salesforce is sent its values or
// a later write's; a write whose values never arrive stays out.
func TestObserverLanding(t *testing.T) {
	o := &sfObserver{m: mapping.Default(), records: map[string]*tracked{}, sfIDs: map[string]string{}}
	t0 := time.Now().Add(-time.Second).UTC()
	acc := func(name string, version int, at time.Time) billsync.Entity {
		return billsync.Entity{"id": "acc_1", "code": "C1", "name": name, "currency": "USD",
			"version": json.Number(strconv.Itoa(version)), "updatedAt": at.Format(time.RFC3339Nano)}
	}
	for i, name := range []string{"one", "two", "three"} {
		if err := o.record(billsync.ObjectAccount, acc(name, i+1, t0.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatal(err)
		}
	}
	send := func(rec billsync.SObject) {
		o.onWrite(sfemu.Write{Op: "upsert", Object: "BillingAccount__c", Records: []billsync.SObject{rec}})
	}
	send(billsync.SObject{"BillingId__c": "acc_1", "Name": "one", "Code__c": "C1", "Currency__c": "USD"})
	if done, total, _ := o.progress(); done != 0 || total != 1 || len(o.latencies()) != 1 {
		t.Fatalf("after the first write: %d of %d done, %d landed", done, total, len(o.latencies()))
	}
	// "two" is coalesced away; "three" arrives as a partial update.
	send(billsync.SObject{"BillingId__c": "acc_1", "Name": "three"})
	done, _, last := o.progress()
	if done != 1 || len(o.latencies()) != 3 || last.IsZero() {
		t.Fatalf("after the last write: %d done, %d landed, last %v", done, len(o.latencies()), last)
	}
	for _, d := range o.latencies() {
		if d <= 0 {
			t.Errorf("latency %v: a write landed before it was made", d)
		}
	}
	if first, lastWrite := o.span(); !first.Equal(t0) || !lastWrite.Equal(t0.Add(2*time.Millisecond)) {
		t.Errorf("span %v – %v", first, lastWrite)
	}
	if o.writeCalls() != 2 {
		t.Errorf("write calls %d, want 2", o.writeCalls())
	}
}
