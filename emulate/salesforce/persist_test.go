package salesforce

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync/emulate/journal"
)

// orgImage is everything the data directory keeps, as JSON, for an exact
// comparison across a restart.
func orgImage(t *testing.T, e *Emulator) map[string]any {
	t.Helper()
	bus, err := e.bus.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	s := snapshot{snapshotMeta: snapshotMeta{Version: 1, OrgID: e.orgID, Counters: e.counters, AutoNumbers: e.autoNumbers, Users: e.userListLocked(),
		Sessions: e.sessions, APIUsage: e.apiUsage}, Bus: bus}
	for _, r := range e.sortedAllLocked() {
		s.Records = append(s.Records, r)
	}
	b, err := json.Marshal(s)
	e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// The bus is compared decoded, not as bytes of a map's encoding.
	var busState any
	if err := json.Unmarshal(bus, &busState); err != nil {
		t.Fatal(err)
	}
	m["bus"] = busState
	return m
}

func (e *Emulator) sortedAllLocked() []*record {
	var out []*record
	for _, m := range e.byObject {
		for _, r := range m {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// orgWorkload makes every kind of change the data directory keeps:
// inserts, updates and upserts by both users (events published by the
// trigger), a cascading delete and its undelete, a rolled-back collection
// (ids taken, nothing kept), quotes and lines (auto numbers), a platform
// event published over REST, sessions issued and expired, a purge.
func orgWorkload(t *testing.T, o *testOrg) {
	t.Helper()
	d, err := o.e.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	integ, sales := o.token(IntegrationUsername), o.token(SalesUsername)
	acc := o.create(sales, "BillingAccount__c", map[string]any{"Name": "Acme", "BillingId__c": "acc-1"})
	o.create(integ, "BillingAccount__c", map[string]any{"Name": "Early", "BillingId__c": "acc-0"})
	bal := o.create(sales, "BillingBalance__c", map[string]any{"Name": "P", "BillingId__c": "bal-1", "BillingAccount__c": acc})
	if r := o.do(sales, "PATCH", v+"/sobjects/BillingAccount__c/"+acc, map[string]any{"Email__c": "a@example.com"}); r.Status != 204 {
		t.Fatalf("update: %d %s", r.Status, r.Body)
	}
	if r := o.do(integ, "PATCH", v+"/sobjects/BillingAccount__c/BillingId__c/acc-2", map[string]any{"Name": "Upserted"}); r.Status != 201 {
		t.Fatalf("upsert: %d %s", r.Status, r.Body)
	}
	if r := o.do(sales, "DELETE", v+"/sobjects/BillingAccount__c/"+acc, nil); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if err := o.e.Undelete(acc, SalesUsername); err != nil {
		t.Fatal(err)
	}
	// All or none, with a duplicate: both rolled back, their ids taken.
	r := o.do(integ, "POST", v+"/composite/sobjects", map[string]any{"allOrNone": true, "records": []any{
		map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"}, "Name": "X", "BillingId__c": "acc-x"},
		map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"}, "Name": "Dup", "BillingId__c": "acc-1"},
	}})
	if r.Status != 200 {
		t.Fatalf("collection: %d %s", r.Status, r.Body)
	}
	opp := o.create(integ, "Opportunity", map[string]any{"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-06-30",
		"AccountId": d.Accounts["Acme Corporation"], "Pricebook2Id": d.CustomPricebookID})
	q := o.create(integ, "Quote", map[string]any{"Name": "Q", "OpportunityId": opp})
	o.create(integ, "QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": d.Entries[EntryKey(d.CustomPricebookID, "PLAT-SUB", "USD")],
		"Quantity": 3, "UnitPrice": "333.33"})
	if r := o.do(integ, "POST", v+"/sobjects/BillingObjectChange__e", map[string]any{"ObjectType__c": "BillingBalance__c", "RecordId__c": bal, "ChangeType__c": "UPDATE"}); r.Status != 201 {
		t.Fatalf("publish: %d %s", r.Status, r.Body)
	}
	if o.e.ExpireSessions() == 0 {
		t.Fatal("no sessions expired")
	}
	o.token(SalesUsername)
	ch := eventChannel("BillingObjectChange__e")
	evs := o.e.Bus().Events(ch)
	if len(evs) < 3 {
		t.Fatalf("%d events", len(evs))
	}
	o.e.Bus().Purge(evs[1].Time.Add(time.Nanosecond)) // the oldest go
	if len(o.e.Bus().Events(ch)) == len(evs) {
		t.Fatal("purge removed nothing")
	}
}

func TestRestartRestoresExactOrg(t *testing.T) {
	for _, mode := range []string{"close", "crash", "crash after folds"} {
		clean := mode == "close"
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			e1, err := New(Options{DataDir: dir, MultiCurrency: true})
			if err != nil {
				t.Fatal(err)
			}
			if mode == "crash after folds" {
				e1.journal.SetFoldThreshold(4 << 10)
			}
			srv := httptest.NewServer(e1.Handler())
			o1 := &testOrg{t: t, e: e1, srv: srv}
			orgWorkload(t, o1)
			srv.Close()
			e1.journal.WaitFolds()
			if segs, _ := journal.ListSegments(dir); mode == "crash after folds" && segs[0] == 1 {
				t.Fatalf("the journal never folded: segments %v", segs)
			}
			before := orgImage(t, e1)
			if clean {
				if err := e1.Close(); err != nil {
					t.Fatal(err)
				}
			}
			// Without Close, e1 is a process that died: only what it
			// journaled before answering remains.
			o2 := newTestOrg(t, Options{DataDir: dir, MultiCurrency: true})
			if diff := cmp.Diff(before, orgImage(t, o2.e)); diff != "" {
				t.Fatalf("org after restart (-before +after)\n%s", diff)
			}
			// Ids and replay ids go on from where they were.
			tok := o2.token(SalesUsername)
			lastReplay := o2.e.Bus().Events(eventChannel("BillingObjectChange__e"))
			id := o2.create(tok, "BillingAccount__c", map[string]any{"Name": "After", "BillingId__c": "acc-after"})
			o2.e.mu.Lock()
			n := o2.e.counters[id[:3]]
			o2.e.mu.Unlock()
			if id != makeID(id[:3], n) || n != int64(before["counters"].(map[string]any)[id[:3]].(float64))+1 {
				t.Fatalf("id after restart %s (counter %d, before %v)", id, n, before["counters"])
			}
			evs := o2.e.Bus().Events(eventChannel("BillingObjectChange__e"))
			if got, prev := evs[len(evs)-1].ReplayID, lastReplay[len(lastReplay)-1].ReplayID; got != prev+1 {
				t.Fatalf("replay id after restart %d, want %d", got, prev+1)
			}
		})
	}
}

// A line cut short by a crash mid-write was never acknowledged: the
// reload drops it and keeps everything before it.
func TestTornJournalLineIsDropped(t *testing.T) {
	dir := t.TempDir()
	e1, err := New(Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := e1.IssueToken(SalesUsername)
	if err != nil {
		t.Fatal(err)
	}
	before := orgImage(t, e1)
	path := e1.journal.ActivePath()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"records":[{"object":"Account","id":"001`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	o2 := newTestOrg(t, Options{DataDir: dir})
	if diff := cmp.Diff(before, orgImage(t, o2.e)); diff != "" {
		t.Fatalf("org after restart (-before +after)\n%s", diff)
	}
	if r := o2.do(tok, "GET", v+"/limits", nil); r.Status != 200 {
		t.Fatalf("session lost: %d", r.Status)
	}
}
