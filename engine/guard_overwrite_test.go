package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// renameInBilling renames synced account id in billing (at version v)
// and queues its webhook.
func (b *bundle) renameInBilling(t *testing.T, id, name string, v int) {
	t.Helper()
	n := id[len("acc_"):]
	js := fmt.Sprintf(`{"id":%q,"code":"C%s","name":%q,"currency":"USD","version":%d}`, id, n, name, v)
	b.putBilling(t, billsync.ObjectAccount, js)
	c := billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, js)
	c.ID, c.EventID = 0, fmt.Sprintf("webhook:update:%s:%d", id, v)
	if _, err := b.store.Enqueue(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
}

// restAll moves the engine's clock on by the burst window: every record
// synced so far is at rest, and the window starts anew.
func (b *bundle) restAll() {
	now := b.engine.now()
	b.engine.now = func() time.Time { return now.Add(DefaultBurstWindow) }
}

// names are the Salesforce names of accounts ids.
func (b *bundle) names(ids []string) map[string]string {
	out := map[string]string{}
	for _, id := range ids {
		out[id] = b.sf("BillingAccount__c", id).Str("Name")
	}
	return out
}

func heldCount(entries []billsync.LogEntry) int {
	n := 0
	for _, le := range entries {
		if le.Reason == billsync.ReasonHeld {
			n++
		}
	}
	return n
}

// A burst of renames arriving as webhooks is applied up to both the count
// and the share of guard.overwrites.account (2 records, 10 % of 10); the
// rest join one pending burst run with their counts and a sample naming
// each field's side, old and new value; a later rename joins it too.
// Approving applies them, each record read afresh.
func TestGuardHoldsBurstOfOverwrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "guard.overwrites.account", `{"percent":10,"count":2}`)
	ids := b.syncedAccounts(t, 10)
	b.restAll()
	for _, id := range ids[:5] {
		b.renameInBilling(t, id, "Renamed "+id, 2)
	}
	if held := heldCount(b.drain(t)); held != 3 {
		t.Fatalf("%d renames held, want 3", held)
	}
	renamed := 0
	for id, name := range b.names(ids) {
		if name == "Renamed "+id {
			renamed++
		}
	}
	if renamed != 2 {
		t.Fatalf("%d accounts renamed in Salesforce, want 2: %v", renamed, b.names(ids))
	}
	runs := b.pendingHeld(t)
	if len(runs) != 1 || runs[0].Kind != billsync.HeldKindBurst || runs[0].Changes != 3 || runs[0].Guard.Overwrites != 3 ||
		runs[0].Guard.Deletes != 0 || runs[0].Guard.Total != 10 || len(runs[0].Sample) != 3 || len(runs[0].Guard.Reasons) != 1 {
		t.Fatalf("held runs %+v", runs)
	}
	s := runs[0].Sample[0]
	if s.Op != billsync.GuardOverwrite || len(s.Fields) != 1 || s.SalesforceID == "" {
		t.Fatalf("sample %+v", s)
	}
	if f := s.Fields[0]; f.Field != "name" || f.Side != billsync.SideSalesforce || f.Old != "Account "+s.BillingID[len("acc_"):] ||
		f.New != "Renamed "+s.BillingID {
		t.Fatalf("sample field %+v", f)
	}
	// While the run holds overwrites, every overwrite of accounts joins it.
	b.renameInBilling(t, ids[9], "Renamed "+ids[9], 2)
	if held := heldCount(b.drain(t)); held != 1 {
		t.Fatalf("a later rename: %d held, want 1", held)
	}
	if runs = b.pendingHeld(t); len(runs) != 1 || runs[0].Changes != 4 || runs[0].Guard.Overwrites != 4 {
		t.Fatalf("held runs after one more rename %+v", runs)
	}
	// A sales user renames a held account in Salesforce before the
	// approval: the approved change reads it afresh, and the edit is a
	// conflict recorded with both values, not silently overwritten.
	edited := runs[0].Sample[0]
	b.userEdit(edited.SalesforceID, "Name", "Sales edit")
	if _, err := b.store.ApproveHeldRun(ctx, runs[0].ID, "alice"); err != nil {
		t.Fatal(err)
	}
	for _, le := range b.drain(t) {
		if le.Outcome != billsync.OutcomeSuccess && (le.BillingID != edited.BillingID || le.Outcome != billsync.OutcomeConflict) {
			t.Errorf("approved rename %+v", le)
		}
	}
	cs, _, err := b.store.Conflicts(ctx, billsync.ConflictFilter{Record: edited.BillingID})
	if err != nil || len(cs) != 1 || len(cs[0].Fields) != 1 || cs[0].Fields[0].Salesforce != "Sales edit" ||
		cs[0].Fields[0].Billing != "Renamed "+edited.BillingID {
		t.Fatalf("conflicts of %s: %+v, %v", edited.BillingID, cs, err)
	}
	for _, id := range append(ids[:5:5], ids[9]) {
		if got := b.names(ids)[id]; id != edited.BillingID && got != "Renamed "+id {
			t.Errorf("%s is named %q in Salesforce after the approval", id, got)
		}
	}
}

// Discarding a burst run of overwrites writes nothing of it: the held
// accounts keep their Salesforce names, and billing keeps its own.
func TestGuardDiscardOverwriteBurst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.set(t, "guard.overwrites.account", `{"percent":10,"count":1}`)
	ids := b.syncedAccounts(t, 4)
	b.restAll()
	for _, id := range ids[:3] {
		b.renameInBilling(t, id, "Renamed "+id, 2)
	}
	b.drain(t)
	runs := b.pendingHeld(t)
	if len(runs) != 1 || runs[0].Changes != 2 {
		t.Fatalf("held runs %+v", runs)
	}
	if _, err := b.store.DiscardHeldRun(context.Background(), runs[0].ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if entries := b.drain(t); len(entries) != 0 {
		t.Fatalf("the discard queued %+v", entries)
	}
	want := map[string]string{ids[0]: "Renamed " + ids[0], ids[1]: "Account 01", ids[2]: "Account 02", ids[3]: "Account 03"}
	if got := b.names(ids); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Salesforce names %v, want %v", got, want)
	}
}

// discardPending discards the one pending held run.
func (b *bundle) discardPending(t *testing.T) {
	t.Helper()
	runs := b.pendingHeld(t)
	if len(runs) != 1 {
		t.Fatalf("held runs %+v", runs)
	}
	if _, err := b.store.DiscardHeldRun(context.Background(), runs[0].ID, "test"); err != nil {
		t.Fatal(err)
	}
}

// A busy day is not a mass overwrite. Records synced within the window
// (created or edited moments ago) do not count, even under a limit of 0.
// Every established account renamed once, and again, within the window
// stays within the default limit. A burst is held only past both the
// count and the share of guard.overwrites: 6 of 10 renames pass a count
// of 2 but only the sixth passes 50 %; they pass 10 % but only the sixth
// passes a count of 5. Filling an empty field overwrites nothing, however
// many records it touches.
func TestGuardLetsEverydayEditsThrough(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ids := b.syncedAccounts(t, 10)
	b.set(t, "guard.overwrites.account", `{"percent":0,"count":0}`)
	for _, id := range ids {
		b.renameInBilling(t, id, "Fresh "+id, 2)
	}
	if held := heldCount(b.drain(t)); held != 0 {
		t.Fatalf("%d renames of records synced within the window held", held)
	}
	b.restAll()
	b.set(t, "guard.overwrites.account", fmt.Sprintf(`{"percent":%d,"count":%d}`, billsync.DefaultGuardLimit.Percent, billsync.DefaultGuardLimit.Count))
	for v := 3; v <= 4; v++ {
		for _, id := range ids {
			b.renameInBilling(t, id, fmt.Sprintf("Renamed %s %d", id, v), v)
		}
		if held := heldCount(b.drain(t)); held != 0 {
			t.Fatalf("round %d: %d renames held under the default limit", v, held)
		}
	}
	for i, limit := range []string{`{"percent":50,"count":2}`, `{"percent":10,"count":5}`} {
		b.restAll()
		b.set(t, "guard.overwrites.account", limit)
		for _, id := range ids[:6] {
			b.renameInBilling(t, id, fmt.Sprintf("Again %s %d", id, i), 5+i)
		}
		if held := heldCount(b.drain(t)); held != 1 {
			t.Fatalf("under %s: %d of 6 renames held, want 1", limit, held)
		}
		b.discardPending(t)
	}
	b.restAll()
	b.set(t, "guard.overwrites.account", `{"percent":0,"count":0}`)
	for _, id := range ids {
		st := b.state(t, billsync.ObjectAccount, id)
		js := fmt.Sprintf(`{"id":%q,"code":%q,"name":%q,"emailAddress":"ops@example.com","currency":"USD","version":9}`,
			id, st.Agreed["code"], st.Agreed["name"])
		b.putBilling(t, billsync.ObjectAccount, js)
		c := billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, js)
		c.ID, c.EventID = 0, "webhook:fill:"+id
		if _, err := b.store.Enqueue(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
	}
	if held := heldCount(b.drain(t)); held != 0 {
		t.Fatalf("%d fills of an empty field held", held)
	}
	for _, id := range ids {
		if got := b.sf("BillingAccount__c", id).Str("Email__c"); got != "ops@example.com" {
			t.Errorf("%s: Email__c %q", id, got)
		}
	}
}

// A backlog is no burst: renames that happened an hour apart each, queued
// while billsync was away and applied together, are counted by when they
// happened, and none is held under a count of 2.
func TestGuardBacklogOfOverwritesIsNoBurst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.set(t, "guard.overwrites.account", `{"percent":10,"count":2}`)
	ids := b.syncedAccounts(t, 10)
	b.restAll()
	for i, id := range ids[:6] {
		n := id[len("acc_"):]
		js := fmt.Sprintf(`{"id":%q,"code":"C%s","name":"Later %s","currency":"USD","version":2}`, id, n, id)
		b.putBilling(t, billsync.ObjectAccount, js)
		c := billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, js)
		c.ID, c.EventID, c.OccurredAt = 0, "webhook:backlog:"+id, fixedNow.Add(time.Duration(i)*time.Hour)
		if _, err := b.store.Enqueue(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
	}
	if held := heldCount(b.drain(t)); held != 0 {
		t.Fatalf("%d renames of a backlog held", held)
	}
	for _, id := range ids[:6] {
		if got := b.names(ids)[id]; got != "Later "+id {
			t.Errorf("%s is named %q in Salesforce", id, got)
		}
	}
}

// The other way: a mass edit in Salesforce (a data load into the wrong
// org, say) flowing to billing, the system of record for money, is held
// the same way; the sample says billing is the side written.
func TestGuardHoldsBurstOfSalesforceOverwrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.set(t, "guard.overwrites.account", `{"percent":10,"count":2}`)
	ids := b.syncedAccounts(t, 10)
	b.restAll()
	for _, id := range ids[:5] {
		sfID := b.sf("BillingAccount__c", id).ID()
		b.userEdit(sfID, "Name", "Loaded "+id)
		c := sfChange(billsync.ObjectAccount, sfID)
		c.ID, c.EventID = 0, "event:load:"+id
		if _, err := b.store.Enqueue(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	if held := heldCount(b.drain(t)); held != 3 {
		t.Fatalf("%d Salesforce edits held, want 3", held)
	}
	loaded := func() int {
		n := 0
		for _, id := range ids {
			if e, err := b.billing.Get(ctx, billsync.ObjectAccount, id); err == nil && e.Str("name") == "Loaded "+id {
				n++
			}
		}
		return n
	}
	if n := loaded(); n != 2 {
		t.Fatalf("%d names written to billing, want 2", n)
	}
	runs := b.pendingHeld(t)
	if len(runs) != 1 || runs[0].Guard.Overwrites != 3 || len(runs[0].Sample) != 3 {
		t.Fatalf("held runs %+v", runs)
	}
	s := runs[0].Sample[0]
	if len(s.Fields) != 1 || s.Fields[0].Side != billsync.SideBilling || s.Fields[0].New != "Loaded "+s.BillingID {
		t.Fatalf("sample %+v", s)
	}
	if _, err := b.store.ApproveHeldRun(ctx, runs[0].ID, "alice"); err != nil {
		t.Fatal(err)
	}
	b.drain(t)
	if n := loaded(); n != 5 {
		t.Fatalf("%d names written to billing after the approval, want 5", n)
	}
}
