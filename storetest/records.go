package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/billsync/billsync"
)

// --- settings ---------------------------------------------------------

func testSettingsSetAndAudit(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	got, err := s.Settings(ctx)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("new store has settings %v", got)
	}
	before := time.Now().Add(-time.Minute)
	st, err := s.SetSetting(ctx, billsync.KeySyncEnabled, json.RawMessage(`false`), "alice")
	must(t, err)
	if st.Key != billsync.KeySyncEnabled || string(st.Value) != `false` || st.UpdatedBy != "alice" || st.UpdatedAt.Before(before) {
		t.Fatalf("SetSetting returned %+v", st)
	}
	_, err = s.SetSetting(ctx, billsync.KeySyncEnabled, json.RawMessage(`true`), "bob")
	must(t, err)
	_, err = s.SetSetting(ctx, billsync.KeyQuotesPricebook, json.RawMessage(`"EU"`), "bob")
	must(t, err)

	got, err = s.Settings(ctx)
	must(t, err)
	want := map[string]string{billsync.KeySyncEnabled: `true`, billsync.KeyQuotesPricebook: `"EU"`}
	if len(got) != len(want) {
		t.Fatalf("Settings = %+v, want keys %v", got, want)
	}
	for _, g := range got {
		if want[g.Key] != string(g.Value) || g.UpdatedBy != "bob" {
			t.Errorf("setting %+v, want value %s by bob", g, want[g.Key])
		}
		if g.UpdatedAt.Location() != time.UTC {
			t.Errorf("setting %s: UpdatedAt %v is not UTC", g.Key, g.UpdatedAt)
		}
	}

	audit, err := s.Audit(ctx, 10)
	must(t, err)
	type row struct{ Actor, Key, Old, New string }
	var rows []row
	for _, a := range audit {
		rows = append(rows, row{a.Actor, a.Key, string(a.Old), string(a.New)})
	}
	wantRows := []row{ // newest first
		{"bob", billsync.KeyQuotesPricebook, "", `"EU"`},
		{"bob", billsync.KeySyncEnabled, `false`, `true`},
		{"alice", billsync.KeySyncEnabled, "", `false`},
	}
	if d := cmp.Diff(wantRows, rows); d != "" {
		t.Errorf("Audit (-want +got):\n%s", d)
	}
	if audit[0].ID <= audit[1].ID || audit[0].Time.IsZero() {
		t.Errorf("audit entries lack ascending ids or times: %+v", audit)
	}
	audit, err = s.Audit(ctx, 1)
	must(t, err)
	if len(audit) != 1 || audit[0].Key != billsync.KeyQuotesPricebook {
		t.Errorf("Audit(1) = %+v", audit)
	}
}

func testSettingsSeedOnce(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	_, err := s.SetSetting(ctx, billsync.KeySyncQuotes, json.RawMessage(`false`), "alice")
	must(t, err)
	seed := map[string]json.RawMessage{
		billsync.KeySyncQuotes:   json.RawMessage(`true`), // stored before: keeps alice's value
		billsync.KeySyncAccounts: json.RawMessage(`false`),
	}
	must(t, s.SeedSettings(ctx, seed, "config"))
	// A restart seeds again; an operator's change since must survive it.
	_, err = s.SetSetting(ctx, billsync.KeySyncAccounts, json.RawMessage(`true`), "alice")
	must(t, err)
	must(t, s.SeedSettings(ctx, seed, "config"))

	got, err := s.Settings(ctx)
	must(t, err)
	vals := map[string]string{}
	for _, g := range got {
		vals[g.Key] = string(g.Value)
	}
	want := map[string]string{billsync.KeySyncQuotes: `false`, billsync.KeySyncAccounts: `true`}
	if d := cmp.Diff(want, vals); d != "" {
		t.Errorf("settings after seeding (-want +got):\n%s", d)
	}
	audit, err := s.Audit(ctx, 0)
	must(t, err)
	var seeded []string
	for _, a := range audit {
		if a.Actor == "config" {
			seeded = append(seeded, a.Key+"="+string(a.New))
		}
	}
	if d := cmp.Diff([]string{billsync.KeySyncAccounts + "=false"}, seeded); d != "" {
		t.Errorf("seed audit (-want +got):\n%s", d)
	}
	must(t, s.SeedSettings(ctx, nil, "config"))
}

// --- sync state -------------------------------------------------------

func testSyncStateRoundTrip(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	_, err := s.SyncState(ctx, billsync.ObjectAccount, "acc_1")
	wantCode(t, err, billsync.ENOTFOUND)

	in := &billsync.SyncState{
		Object:         billsync.ObjectAccount,
		BillingID:      "acc_1",
		SalesforceID:   "001000000000001AAA",
		AccountID:      "acc_1",
		BillingVersion: 7,
		Agreed:         map[string]string{"name": "Acme", "customFields.region": "EU", "amount": "12.50"},
		UpdatedAt:      time.Date(2026, 3, 4, 5, 6, 7, 891011, time.FixedZone("X", 3600)),
	}
	must(t, s.PutSyncState(ctx, in))
	got, err := s.SyncState(ctx, billsync.ObjectAccount, "acc_1")
	must(t, err)
	if d := cmp.Diff(in, got, equateTime); d != "" {
		t.Errorf("SyncState (-want +got):\n%s", d)
	}
	if got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt %v is not UTC", got.UpdatedAt)
	}

	// Replace.
	in2 := *in
	in2.BillingVersion, in2.Agreed = 8, map[string]string{"name": "Acme Ltd"}
	must(t, s.PutSyncState(ctx, &in2))
	got, err = s.SyncState(ctx, billsync.ObjectAccount, "acc_1")
	must(t, err)
	if d := cmp.Diff(&in2, got, equateTime); d != "" {
		t.Errorf("SyncState after replace (-want +got):\n%s", d)
	}

	// Same billing id, other type: a different record.
	_, err = s.SyncState(ctx, billsync.ObjectBalance, "acc_1")
	wantCode(t, err, billsync.ENOTFOUND)

	// A zero UpdatedAt is filled in.
	b := &billsync.SyncState{Object: billsync.ObjectBalance, BillingID: "bal_1", AccountID: "acc_1"}
	must(t, s.PutSyncState(ctx, b))
	got, err = s.SyncState(ctx, billsync.ObjectBalance, "bal_1")
	must(t, err)
	if got.UpdatedAt.IsZero() || got.SalesforceID != "" || len(got.Agreed) != 0 {
		t.Errorf("balance state = %+v", got)
	}

	must(t, s.DeleteSyncState(ctx, billsync.ObjectAccount, "acc_1"))
	_, err = s.SyncState(ctx, billsync.ObjectAccount, "acc_1")
	wantCode(t, err, billsync.ENOTFOUND)
	must(t, s.DeleteSyncState(ctx, billsync.ObjectAccount, "acc_1")) // idempotent

	wantCode(t, s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectAccount}), billsync.EINVALID)
}

func testSyncStateBySalesforceID(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	_, err := s.SyncStateBySalesforceID(ctx, "001000000000001AAA")
	wantCode(t, err, billsync.ENOTFOUND)

	acc := &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001000000000001AAA", AccountID: "acc_1"}
	quote := &billsync.SyncState{Object: billsync.ObjectQuote, BillingID: "q_1", SalesforceID: "0Q0000000000001AAA", AccountID: "acc_1"}
	must(t, s.PutSyncState(ctx, acc))
	must(t, s.PutSyncState(ctx, quote))
	// Records not yet in Salesforce do not collide with each other.
	must(t, s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectBalance, BillingID: "bal_1", AccountID: "acc_1"}))
	must(t, s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectBalance, BillingID: "bal_2", AccountID: "acc_1"}))

	got, err := s.SyncStateBySalesforceID(ctx, "0Q0000000000001AAA")
	must(t, err)
	if got.Object != billsync.ObjectQuote || got.BillingID != "q_1" {
		t.Errorf("by Salesforce id = %+v", got)
	}
	_, err = s.SyncStateBySalesforceID(ctx, "")
	wantCode(t, err, billsync.ENOTFOUND)

	// One Salesforce record cannot be the twin of two billing records.
	err = s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_2", SalesforceID: "001000000000001AAA"})
	wantCode(t, err, billsync.ECONFLICT)

	// Remapping frees the old id.
	acc.SalesforceID = "001000000000002AAA"
	must(t, s.PutSyncState(ctx, acc))
	_, err = s.SyncStateBySalesforceID(ctx, "001000000000001AAA")
	wantCode(t, err, billsync.ENOTFOUND)
	got, err = s.SyncStateBySalesforceID(ctx, "001000000000002AAA")
	must(t, err)
	if got.BillingID != "acc_1" {
		t.Errorf("by new Salesforce id = %+v", got)
	}
	must(t, s.DeleteSyncState(ctx, billsync.ObjectAccount, "acc_1"))
	_, err = s.SyncStateBySalesforceID(ctx, "001000000000002AAA")
	wantCode(t, err, billsync.ENOTFOUND)
}

// --- sync log ---------------------------------------------------------

func logEntry(i int, at time.Time) billsync.LogEntry {
	objects := []billsync.ObjectType{billsync.ObjectAccount, billsync.ObjectBalance, billsync.ObjectQuote}
	outcomes := []billsync.Outcome{billsync.OutcomeSuccess, billsync.OutcomeFailed, billsync.OutcomeSkipped, billsync.OutcomeRetrying}
	dirs := []billsync.Direction{billsync.ToSalesforce, billsync.ToSalesforce, billsync.ToBilling}
	reasons := []string{billsync.ReasonEcho, billsync.ReasonStale, ""}
	return billsync.LogEntry{
		Time:         at,
		Direction:    dirs[i%5%len(dirs)],
		Object:       objects[i%len(objects)],
		BillingID:    fmt.Sprintf("b%d", i%10),
		SalesforceID: fmt.Sprintf("sf%d", i%7),
		Operation:    "upsert",
		Outcome:      outcomes[i%len(outcomes)],
		Reason:       reasons[i%len(reasons)],
		ErrorCode:    "E",
		Message:      fmt.Sprintf("entry %d", i),
		Attempt:      1 + i%3,
		Latency:      time.Duration(i) * time.Millisecond,
		EventID:      fmt.Sprintf("evt%d", i),
		ChangeID:     int64(i + 1),
	}
}

func testLogFilters(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []billsync.LogEntry
	for i := range 60 {
		all = append(all, logEntry(i, base.Add(time.Duration(i)*time.Minute)))
	}
	must(t, s.AppendLog(ctx, all[:30]...))
	must(t, s.AppendLog(ctx, all[30:]...))
	must(t, s.AppendLog(ctx))

	ignoreID := cmpopts.IgnoreFields(billsync.LogEntry{}, "ID")
	check := func(name string, f billsync.LogFilter, match func(billsync.LogEntry) bool) {
		t.Helper()
		var want []billsync.LogEntry
		for i := len(all) - 1; i >= 0; i-- {
			if match(all[i]) {
				want = append(want, all[i])
			}
		}
		got, next, err := s.Logs(ctx, f)
		must(t, err)
		if next != "" {
			t.Errorf("%s: unexpected next cursor %q", name, next)
		}
		if d := cmp.Diff(want, got, equateTime, ignoreID, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s (-want +got):\n%s", name, d)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID >= got[i-1].ID {
				t.Errorf("%s: ids not descending: %d then %d", name, got[i-1].ID, got[i].ID)
			}
		}
		for _, e := range got {
			if e.Time.Location() != time.UTC {
				t.Errorf("%s: time %v is not UTC", name, e.Time)
			}
		}
	}
	check("all", billsync.LogFilter{}, func(billsync.LogEntry) bool { return true })
	check("object", billsync.LogFilter{Object: billsync.ObjectQuote}, func(e billsync.LogEntry) bool { return e.Object == billsync.ObjectQuote })
	check("outcome", billsync.LogFilter{Outcome: billsync.OutcomeFailed}, func(e billsync.LogEntry) bool { return e.Outcome == billsync.OutcomeFailed })
	check("direction", billsync.LogFilter{Direction: billsync.ToBilling}, func(e billsync.LogEntry) bool { return e.Direction == billsync.ToBilling })
	check("reason", billsync.LogFilter{Reason: billsync.ReasonStale}, func(e billsync.LogEntry) bool { return e.Reason == billsync.ReasonStale })
	check("direction and reason", billsync.LogFilter{Direction: billsync.ToSalesforce, Reason: billsync.ReasonEcho},
		func(e billsync.LogEntry) bool {
			return e.Direction == billsync.ToSalesforce && e.Reason == billsync.ReasonEcho
		})
	check("since", billsync.LogFilter{Since: base.Add(45 * time.Minute)}, func(e billsync.LogEntry) bool { return !e.Time.Before(base.Add(45 * time.Minute)) })
	check("billing record", billsync.LogFilter{Record: "b3"}, func(e billsync.LogEntry) bool { return e.BillingID == "b3" || e.SalesforceID == "b3" })
	check("salesforce record", billsync.LogFilter{Record: "sf2"}, func(e billsync.LogEntry) bool { return e.SalesforceID == "sf2" })
	check("combined", billsync.LogFilter{Object: billsync.ObjectAccount, Outcome: billsync.OutcomeSuccess, Record: "b6", Since: base.Add(10 * time.Minute)},
		func(e billsync.LogEntry) bool {
			return e.Object == billsync.ObjectAccount && e.Outcome == billsync.OutcomeSuccess && e.BillingID == "b6" && !e.Time.Before(base.Add(10*time.Minute))
		})
	check("no match", billsync.LogFilter{Record: "nothing"}, func(billsync.LogEntry) bool { return false })

	// A zero time is the time of the append.
	before := time.Now().Add(-time.Minute)
	must(t, s.AppendLog(ctx, billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "fresh", Outcome: billsync.OutcomeSuccess}))
	got, _, err := s.Logs(ctx, billsync.LogFilter{Record: "fresh"})
	must(t, err)
	if len(got) != 1 || got[0].Time.Before(before) {
		t.Errorf("entry appended with zero time = %+v", got)
	}
}

func testLogPaging(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 1105
	entries := make([]billsync.LogEntry, n)
	for i := range entries {
		entries[i] = logEntry(i, base.Add(time.Duration(i)*time.Second))
	}
	must(t, s.AppendLog(ctx, entries...))

	// Default page size 100.
	page, next, err := s.Logs(ctx, billsync.LogFilter{})
	must(t, err)
	if len(page) != 100 || next == "" {
		t.Fatalf("default page: %d entries, next %q", len(page), next)
	}
	// At most 1000.
	page, _, err = s.Logs(ctx, billsync.LogFilter{Limit: 5000})
	must(t, err)
	if len(page) != 1000 {
		t.Fatalf("Limit 5000 gave %d entries, want 1000", len(page))
	}

	// Walking every page sees each entry once, newest first.
	var msgs []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page, next, err := s.Logs(ctx, billsync.LogFilter{Limit: 300, Cursor: cursor})
		must(t, err)
		for _, e := range page {
			msgs = append(msgs, e.Message)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(msgs) != n {
		t.Fatalf("paged through %d entries, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if want := fmt.Sprintf("entry %d", n-1-i); m != want {
			t.Fatalf("entry %d of the walk is %q, want %q", i, m, want)
		}
	}

	// Paging composes with a filter, and an exact last page has no cursor.
	var quotes int
	for _, e := range entries {
		if e.Object == billsync.ObjectQuote {
			quotes++
		}
	}
	page, next, err = s.Logs(ctx, billsync.LogFilter{Object: billsync.ObjectQuote, Limit: quotes - 1})
	must(t, err)
	if len(page) != quotes-1 || next == "" {
		t.Fatalf("filtered page: %d entries, next %q", len(page), next)
	}
	page, next, err = s.Logs(ctx, billsync.LogFilter{Object: billsync.ObjectQuote, Limit: quotes - 1, Cursor: next})
	must(t, err)
	if len(page) != 1 || next != "" || page[0].Object != billsync.ObjectQuote {
		t.Fatalf("last filtered page: %+v, next %q", page, next)
	}

	_, _, err = s.Logs(ctx, billsync.LogFilter{Cursor: "not a cursor!"})
	wantCode(t, err, billsync.EINVALID)
}

func testLogPrune(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var entries []billsync.LogEntry
	for i := range 50 {
		entries = append(entries, logEntry(i, base.Add(time.Duration(i)*time.Hour)))
	}
	must(t, s.AppendLog(ctx, entries...))
	n, err := s.PruneLogs(ctx, base.Add(20*time.Hour))
	must(t, err)
	if n != 20 {
		t.Errorf("PruneLogs deleted %d, want 20", n)
	}
	got, _, err := s.Logs(ctx, billsync.LogFilter{Limit: 1000})
	must(t, err)
	if len(got) != 30 || got[len(got)-1].Message != "entry 20" {
		t.Errorf("after prune: %d entries, oldest %+v", len(got), got[len(got)-1])
	}
	n, err = s.PruneLogs(ctx, base)
	must(t, err)
	if n != 0 {
		t.Errorf("second prune deleted %d", n)
	}
}
