package console_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// resyncer stands in for the engine: a started resync is reported
// running until the test says otherwise.
func (e *env) resyncer() *mock.Resyncer {
	return &mock.Resyncer{
		StartResyncFn: func(ctx context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
			rep := &billsync.ResyncReport{ID: "rs_1", Request: req, State: "running", Started: start, Total: 4, Compared: 1}
			e.resyncs.Store(rep.ID, rep)
			return rep, nil
		},
		ResyncFn: func(ctx context.Context, id string) (*billsync.ResyncReport, error) {
			if r, ok := e.resyncs.Load(id); ok {
				return r.(*billsync.ResyncReport), nil
			}
			return nil, billsync.Errorf(billsync.ENOTFOUND, "no resync %s", id)
		},
	}
}

// A dry-run resync starts from the form (dry run ticked by default),
// shows its progress on a page that reloads itself while it runs, and
// then its differences with the values on each side.
func TestResyncThroughTheUI(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminToken)
	p := b.get("/console/resync")
	p.mustHave(t, `<label for="rs-object">Object</label>`, `name="dryRun" value="1" checked`, `<option value="account">account</option>`)
	p = b.post("/console/resync", url.Values{"csrf": {p.csrf(t)}, "object": {"account"}, "dryRun": {"1"}})
	p.mustHave(t, "A dry-run resync (it changes nothing) started.", "Resync rs_1", `<meta http-equiv="refresh" content="2">`,
		"1 of 4 records compared (25 %)", "account, dry run (changes nothing)")
	r, _ := e.resyncs.Load("rs_1")
	if got := r.(*billsync.ResyncReport).Request; got != (billsync.ResyncRequest{Object: billsync.ObjectAccount, DryRun: true}) {
		t.Fatalf("request %+v", got)
	}
	e.resyncs.Store("rs_1", &billsync.ResyncReport{ID: "rs_1", State: "done", Total: 4, Compared: 4, Differences: 1, APICalls: 3,
		Request: billsync.ResyncRequest{Object: billsync.ObjectAccount, DryRun: true},
		Diffs: []billsync.ResyncDiff{{Object: billsync.ObjectAccount, BillingID: "acc_2", SalesforceID: "a01X", Kind: billsync.DiffFields,
			Fields: []string{"name"}, Values: []billsync.DiffValue{{Field: "name", Billing: "Beta", Salesforce: "Beta <edited>"}},
			Action: "reconcile fields (conflict policy applies)"}}})
	p = b.get("/console/resync/rs_1")
	p.mustHave(t, "<code>name</code>: Beta / Beta &lt;edited&gt;", "reconcile fields (conflict policy applies)", `href="/console/records/acc_2"`)
	p.mustLack(t, `http-equiv="refresh"`)
	b.get("/console/resync/rs_404").mustHave(t, "no resync rs_404")

	// A read token sees reports, not the form.
	r2 := e.browser()
	r2.login(readToken)
	r2.get("/console/resync").mustLack(t, `action="/console/resync"`)
}

// Ticked dead letters are retried or discarded together; "all" asks
// first, saying how many, and only the confirmation acts.
func TestDeadLetterBulkActions(t *testing.T) {
	e := newEnv(t)
	ids := []int64{e.bury("acc_1"), e.bury("acc_2"), e.bury("acc_3"), e.bury("acc_4")}
	b := e.browser()
	b.login(adminToken)
	p := b.get("/console/deadletters")
	p.mustHave(t, `form="dl-bulk" name="id" value="1"`, "Retry ticked", "Discard all…")
	csrf := p.csrf(t)

	p = b.post("/console/deadletters/retry", url.Values{"csrf": {csrf}, "id": {fmt.Sprint(ids[0]), fmt.Sprint(ids[1])}})
	p.mustHave(t, "2 dead letters queued again.")
	if q := e.store.Queued(); len(q) != 2 {
		t.Fatalf("queued after retrying two: %+v", q)
	}
	p = b.post("/console/deadletters/retry", url.Values{"csrf": {csrf}})
	p.mustHave(t, `class="flash error"`, "tick the dead letters to retry first")

	// Discard all: first the question, with the count; nothing happens yet.
	p = b.post("/console/deadletters/discard", url.Values{"csrf": {csrf}, "all": {"ask"}})
	p.mustHave(t, "Discard all 2 dead letters?", `<input type="hidden" name="all" value="confirmed">`)
	if dl, _ := e.store.DeadLetters(context.Background(), 10); len(dl) != 2 {
		t.Fatalf("asking discarded: %+v", dl)
	}
	p = b.post("/console/deadletters/discard", url.Values{"csrf": {csrf}, "all": {"confirmed"}})
	p.mustHave(t, "2 dead letters discarded; their changes will not be applied.", "No dead letters.")
	if dl, _ := e.store.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Fatalf("after discarding all: %+v", dl)
	}
	if q := e.store.Queued(); !slices.ContainsFunc(q, func(c billsync.Change) bool { return c.RecordID == "acc_1" }) {
		t.Fatalf("the retried ones are still queued: %+v", q)
	}
}

// The mapping in force is shown in the mapping file's format.
func TestMappingPage(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(readToken)
	p := b.get("/console/mapping")
	p.mustHave(t, "the built-in mapping", "sobject: BillingAccount__c", `aria-current="page">Mapping</a>`)
}
