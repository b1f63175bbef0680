package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/billsync/billsync"
)

// waitFor is how long a test polls for a time-based outcome (a lease or a
// retry time running out) before it fails.
const waitFor = 15 * time.Second

// Run runs the suite. newStore must return a new, empty store and arrange
// for it to be closed when t ends (t.Cleanup). Subtests run in parallel,
// each with its own store.
func Run(t *testing.T, newStore func(t *testing.T) billsync.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s billsync.Store)
	}{
		{"Settings/SetAndAudit", testSettingsSetAndAudit},
		{"Settings/SeedOnce", testSettingsSeedOnce},
		{"SyncState/RoundTrip", testSyncStateRoundTrip},
		{"SyncState/BySalesforceID", testSyncStateBySalesforceID},
		{"Log/Filters", testLogFilters},
		{"Log/Paging", testLogPaging},
		{"Log/Prune", testLogPrune},
		{"Queue/EnqueueAndDedupe", testQueueEnqueueDedupe},
		{"Queue/RoundTrip", testQueueRoundTrip},
		{"Queue/PartitionOrder", testQueuePartitionOrder},
		{"Queue/PartitionsInParallel", testQueuePartitionsInParallel},
		{"Queue/RetryKeepsHead", testQueueRetryKeepsHead},
		{"Queue/LeaseExpiry", testQueueLeaseExpiry},
		{"Queue/BuryAndResurrect", testQueueBuryResurrect},
		{"Queue/UnknownIDs", testQueueUnknownIDs},
		{"Queue/CompleteAppendsLog", testQueueCompleteAppendsLog},
		{"Queue/StreamEvent", testQueueStreamEvent},
		{"Queue/Stats", testQueueStats},
		{"Queue/ConcurrentClaimers", testQueueConcurrentClaimers},
		{"Meta", testMeta},
		{"Conflicts/AddAndGet", testConflictAddAndGet},
		{"Conflicts/ListFilters", testConflictListFilters},
		{"Conflicts/Paging", testConflictPaging},
		{"Conflicts/Held", testConflictHeld},
		{"Conflicts/Resolve", testConflictResolve},
		{"Conflicts/CountHeld", testConflictCountHeld},
		{"Leases", testLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// Opened returns s, the result of opening a store, and closes it when t
// ends; it fails t at once if err is not nil.
func Opened[S interface{ Close() error }](t testing.TB, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// equateTime compares times by instant; stores need not keep the
// monotonic reading or the location of what they were given.
var equateTime = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := billsync.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

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
	return billsync.LogEntry{
		Time:         at,
		Direction:    billsync.ToSalesforce,
		Object:       objects[i%len(objects)],
		BillingID:    fmt.Sprintf("b%d", i%10),
		SalesforceID: fmt.Sprintf("sf%d", i%7),
		Operation:    "upsert",
		Outcome:      outcomes[i%len(outcomes)],
		Reason:       billsync.ReasonEcho,
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

// --- queue ------------------------------------------------------------

var eventSeq struct {
	sync.Mutex
	n int
}

// change returns a distinct change in partition p.
func change(p, record string) *billsync.Change {
	eventSeq.Lock()
	eventSeq.n++
	n := eventSeq.n
	eventSeq.Unlock()
	return &billsync.Change{
		Partition:  p,
		Source:     billsync.SideBilling,
		Object:     billsync.ObjectAccount,
		Op:         billsync.OpUpdated,
		RecordID:   record,
		EventID:    fmt.Sprintf("evt-%d-%s-%s", n, p, record),
		Payload:    json.RawMessage(`{"id":"` + record + `","amount":"12.50"}`),
		OccurredAt: time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC),
	}
}

func enqueue(t *testing.T, s billsync.Store, cs ...*billsync.Change) {
	t.Helper()
	dup, err := s.Enqueue(t.Context(), cs...)
	must(t, err)
	for i, d := range dup {
		if d {
			t.Fatalf("change %d (%s) reported duplicate", i, cs[i].EventID)
		}
	}
}

// claimIDs claims with a long lease and returns the record ids, in ID order.
func claimIDs(t *testing.T, s billsync.Store, max int) []string {
	t.Helper()
	got, err := s.Claim(t.Context(), max, time.Hour)
	must(t, err)
	return records(got)
}

func records(cs []billsync.Change) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.RecordID)
	}
	return out
}

func claimOne(t *testing.T, s billsync.Store, lease time.Duration) billsync.Change {
	t.Helper()
	got, err := s.Claim(t.Context(), 1, lease)
	must(t, err)
	if len(got) != 1 {
		t.Fatalf("Claim returned %d changes, want 1", len(got))
	}
	return got[0]
}

func testQueueEnqueueDedupe(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a, b, c := change("account:1", "r1"), change("account:1", "r2"), change("account:2", "r3")
	c.EventID = a.EventID
	before := time.Now().Add(-time.Minute)
	dup, err := s.Enqueue(ctx, a, b, c)
	must(t, err)
	if d := cmp.Diff([]bool{false, false, true}, dup); d != "" {
		t.Fatalf("dup (-want +got):\n%s", d)
	}
	if a.ID <= 0 || b.ID <= a.ID {
		t.Errorf("ids not ascending: %d, %d", a.ID, b.ID)
	}
	if a.EnqueuedAt.Before(before) {
		t.Errorf("EnqueuedAt = %v", a.EnqueuedAt)
	}

	again := *a
	again.ID = 0
	dup, err = s.Enqueue(ctx, &again)
	must(t, err)
	if !dup[0] {
		t.Error("re-enqueued event id not reported duplicate")
	}

	// Still a duplicate after its change is done: a webhook redelivered
	// after processing must not apply twice.
	got := claimOne(t, s, time.Hour)
	must(t, s.Complete(ctx, got.ID))
	dup, err = s.Enqueue(ctx, &again)
	must(t, err)
	if !dup[0] {
		t.Error("event id of a completed change not reported duplicate")
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 1 {
		t.Errorf("pending = %d, want 1 (only r2)", st.Pending)
	}

	dup, err = s.Enqueue(ctx)
	must(t, err)
	if len(dup) != 0 {
		t.Errorf("empty Enqueue: dup %v", dup)
	}
	_, err = s.Enqueue(ctx, &billsync.Change{EventID: "no-partition"})
	wantCode(t, err, billsync.EINVALID)
}

func testQueueRoundTrip(t *testing.T, s billsync.Store) {
	in := change("quote:q1", "q1")
	in.Source, in.Object, in.Op = billsync.SideSalesforce, billsync.ObjectQuote, billsync.OpDeleted
	enqueue(t, s, in)
	got := claimOne(t, s, time.Hour)
	want := *in
	want.Attempt = 1
	if d := cmp.Diff(want, got, equateTime); d != "" {
		t.Errorf("claimed change (-want +got):\n%s", d)
	}
	if got.EnqueuedAt.Location() != time.UTC || got.OccurredAt.Location() != time.UTC {
		t.Errorf("times not UTC: %v %v", got.EnqueuedAt, got.OccurredAt)
	}

	// No payload and no occurrence time survive as such.
	bare := change("quote:q2", "q2")
	bare.Payload, bare.OccurredAt = nil, time.Time{}
	enqueue(t, s, bare)
	got = claimOne(t, s, time.Hour)
	if got.Payload != nil || !got.OccurredAt.IsZero() {
		t.Errorf("bare change came back as %+v", got)
	}
}

func testQueuePartitionOrder(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, a3, b1 := change("account:a", "a1"), change("account:a", "a2"), change("account:a", "a3"), change("account:b", "b1")
	enqueue(t, s, a1, a2)
	enqueue(t, s, b1, a3)

	if d := cmp.Diff([]string{"a1", "b1"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("first claim (-want +got):\n%s", d)
	}
	// One change in flight per partition: nothing more until one finishes.
	if got := claimIDs(t, s, 10); len(got) != 0 {
		t.Fatalf("second claim got %v, want nothing", got)
	}
	must(t, s.Complete(ctx, a1.ID))
	if d := cmp.Diff([]string{"a2"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("after completing a1 (-want +got):\n%s", d)
	}
	must(t, s.Complete(ctx, a2.ID))
	must(t, s.Complete(ctx, b1.ID))
	if d := cmp.Diff([]string{"a3"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("after completing a2 (-want +got):\n%s", d)
	}
	must(t, s.Complete(ctx, a3.ID))
	if got := claimIDs(t, s, 10); len(got) != 0 {
		t.Fatalf("empty queue claimed %v", got)
	}
	if got, err := s.Claim(ctx, 0, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("Claim(0) = %v, %v", got, err)
	}
}

func testQueuePartitionsInParallel(t *testing.T, s billsync.Store) {
	var cs []*billsync.Change
	for p := range 5 {
		for i := range 3 {
			cs = append(cs, change(fmt.Sprintf("account:%d", p), fmt.Sprintf("p%d-%d", p, i)))
		}
	}
	enqueue(t, s, cs...)
	got := claimIDs(t, s, 3)
	if len(got) != 3 {
		t.Fatalf("Claim(3) = %v", got)
	}
	rest := claimIDs(t, s, 10)
	if d := cmp.Diff([]string{"p0-0", "p1-0", "p2-0", "p3-0", "p4-0"}, append(got, rest...), cmpopts.SortSlices(func(a, b string) bool { return a < b })); d != "" {
		t.Errorf("heads claimed (-want +got):\n%s", d)
	}
}

func testQueueRetryKeepsHead(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, b1 := change("account:a", "a1"), change("account:a", "a2"), change("account:b", "b1")
	enqueue(t, s, a1, a2, b1)
	if d := cmp.Diff([]string{"a1", "b1"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("claim (-want +got):\n%s", d)
	}
	// a1 waits an hour; a2 must wait behind it, b moves on.
	must(t, s.Retry(ctx, a1.ID, time.Now().Add(time.Hour), "UNABLE_TO_LOCK_ROW",
		billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeRetrying}))
	must(t, s.Complete(ctx, b1.ID))
	if got := claimIDs(t, s, 10); len(got) != 0 {
		t.Fatalf("claimed %v while a1 waits for its retry time", got)
	}
	logs, _, err := s.Logs(ctx, billsync.LogFilter{Record: "a1"})
	must(t, err)
	if len(logs) != 1 || logs[0].Outcome != billsync.OutcomeRetrying {
		t.Errorf("retry log = %+v", logs)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 2 || st.Running != 0 {
		t.Errorf("stats while waiting = %+v", st)
	}

	// Moving the retry time to now releases a1, still ahead of a2.
	must(t, s.Retry(ctx, a1.ID, time.Now().Add(-time.Second), "UNABLE_TO_LOCK_ROW"))
	got := claimOne(t, s, time.Hour)
	if got.ID != a1.ID || got.Attempt != 2 || got.LastError != "UNABLE_TO_LOCK_ROW" {
		t.Fatalf("claimed %+v, want a1 on attempt 2 with its last error", got)
	}
	// A retry time a moment ahead is honoured once it passes.
	must(t, s.Retry(ctx, a1.ID, time.Now().Add(300*time.Millisecond), "again"))
	deadline := time.Now().Add(waitFor)
	for {
		cs, err := s.Claim(ctx, 10, time.Hour)
		must(t, err)
		if len(cs) > 0 {
			if cs[0].ID != a1.ID || cs[0].Attempt != 3 || len(cs) != 1 {
				t.Fatalf("claimed %+v, want a1 on attempt 3", cs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a1 never became claimable after its retry time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(t, s.Complete(ctx, a1.ID))
	if d := cmp.Diff([]string{"a2"}, claimIDs(t, s, 10)); d != "" {
		t.Fatalf("after a1 (-want +got):\n%s", d)
	}
}

func testQueueLeaseExpiry(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2 := change("account:a", "a1"), change("account:a", "a2")
	enqueue(t, s, a1, a2)
	first := claimOne(t, s, 200*time.Millisecond)
	if first.ID != a1.ID || first.Attempt != 1 {
		t.Fatalf("claimed %+v", first)
	}
	// The worker "crashes": its lease runs out and a1 is claimed again,
	// before a2.
	deadline := time.Now().Add(waitFor)
	for {
		cs, err := s.Claim(ctx, 10, time.Hour)
		must(t, err)
		if len(cs) > 0 {
			if len(cs) != 1 || cs[0].ID != a1.ID || cs[0].Attempt != 2 {
				t.Fatalf("re-claimed %+v, want a1 on attempt 2", cs)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("abandoned change never re-claimed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Running != 1 || st.Pending != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func testQueueBuryResurrect(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	a1, a2, a3 := change("account:a", "a1"), change("account:a", "a2"), change("account:a", "a3")
	enqueue(t, s, a1, a2)
	claimOne(t, s, time.Hour)
	before := time.Now().Add(-time.Minute)
	must(t, s.Bury(ctx, a1.ID, "INVALID_FIELD", "No such column 'Foo__c'",
		billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", Outcome: billsync.OutcomeDead, Reason: billsync.ReasonRemoteError}))

	// The partition moves on.
	got := claimOne(t, s, time.Hour)
	if got.ID != a2.ID {
		t.Fatalf("after burying a1 claimed %+v, want a2", got)
	}
	dead, err := s.DeadLetters(ctx, 0)
	must(t, err)
	if len(dead) != 1 {
		t.Fatalf("dead letters = %+v", dead)
	}
	d := dead[0]
	wantChange := *a1
	wantChange.Attempt = 1
	if diff := cmp.Diff(wantChange, d.Change, equateTime); diff != "" {
		t.Errorf("dead letter change (-want +got):\n%s", diff)
	}
	if d.ErrorCode != "INVALID_FIELD" || d.Error != "No such column 'Foo__c'" || d.DeadAt.Before(before) {
		t.Errorf("dead letter = %+v", d)
	}
	logs, _, err := s.Logs(ctx, billsync.LogFilter{Outcome: billsync.OutcomeDead})
	must(t, err)
	if len(logs) != 1 || logs[0].BillingID != "a1" {
		t.Errorf("bury log = %+v", logs)
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.DeadLetters != 1 {
		t.Errorf("stats = %+v", st)
	}

	// Resurrect goes to the tail of the partition, behind a3, with its
	// attempts reset and its event id kept.
	enqueue(t, s, a3)
	must(t, s.Resurrect(ctx, a1.ID))
	dead, err = s.DeadLetters(ctx, 10)
	must(t, err)
	if len(dead) != 0 {
		t.Errorf("dead letters after resurrect = %+v", dead)
	}
	must(t, s.Complete(ctx, a2.ID))
	if got := claimOne(t, s, time.Hour); got.ID != a3.ID {
		t.Fatalf("claimed %+v, want a3 before the resurrected a1", got)
	}
	must(t, s.Complete(ctx, a3.ID))
	back := claimOne(t, s, time.Hour)
	if back.RecordID != "a1" || back.EventID != a1.EventID || back.Attempt != 1 || back.ID <= a3.ID || back.LastError != "" {
		t.Errorf("resurrected change = %+v", back)
	}
	if string(back.Payload) != string(a1.Payload) {
		t.Errorf("resurrected payload = %s", back.Payload)
	}
	// Its event id is still known.
	again := *a1
	dup, err := s.Enqueue(ctx, &again)
	must(t, err)
	if !dup[0] {
		t.Error("event id of a resurrected change not reported duplicate")
	}

	wantCode(t, s.Resurrect(ctx, a1.ID), billsync.ENOTFOUND)

	// Oldest first.
	must(t, s.Bury(ctx, back.ID, "X", "first"))
	b1 := change("account:b", "b1")
	enqueue(t, s, b1)
	claimOne(t, s, time.Hour)
	must(t, s.Bury(ctx, b1.ID, "Y", "second"))
	dead, err = s.DeadLetters(ctx, 10)
	must(t, err)
	if len(dead) != 2 || dead[0].Error != "first" || dead[1].Error != "second" {
		t.Errorf("dead letters = %+v", dead)
	}
	dead, err = s.DeadLetters(ctx, 1)
	must(t, err)
	if len(dead) != 1 {
		t.Errorf("DeadLetters(1) = %d", len(dead))
	}
}

func testQueueUnknownIDs(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	wantCode(t, s.Complete(ctx, 12345), billsync.ENOTFOUND)
	wantCode(t, s.Retry(ctx, 12345, time.Now(), "x"), billsync.ENOTFOUND)
	wantCode(t, s.Bury(ctx, 12345, "x", "y"), billsync.ENOTFOUND)
	wantCode(t, s.Resurrect(ctx, 12345), billsync.ENOTFOUND)

	// A worker whose lease ran out finishes after another worker did.
	c := change("account:a", "a1")
	enqueue(t, s, c)
	claimOne(t, s, time.Hour)
	must(t, s.Complete(ctx, c.ID))
	wantCode(t, s.Complete(ctx, c.ID), billsync.ENOTFOUND)
}

func testQueueCompleteAppendsLog(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	c := change("account:a", "a1")
	enqueue(t, s, c)
	claimOne(t, s, time.Hour)
	e1 := billsync.LogEntry{Object: billsync.ObjectAccount, BillingID: "a1", SalesforceID: "001A", Outcome: billsync.OutcomeSuccess, Operation: "upsert", ChangeID: c.ID, EventID: c.EventID}
	e2 := e1
	e2.Object, e2.BillingID, e2.Operation = billsync.ObjectBalance, "bal1", "create"
	must(t, s.Complete(ctx, c.ID, e1, e2))
	logs, _, err := s.Logs(ctx, billsync.LogFilter{})
	must(t, err)
	if len(logs) != 2 || logs[0].BillingID != "bal1" || logs[1].BillingID != "a1" || logs[1].ChangeID != c.ID || logs[1].EventID != c.EventID {
		t.Errorf("logs after Complete = %+v", logs)
	}
}

func testQueueStreamEvent(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	const ch = "/event/BillSync_Change__e"
	_, ok, err := s.ReplayID(ctx, ch)
	must(t, err)
	if ok {
		t.Fatal("new store has a checkpoint")
	}

	c := change(billsync.RecordPartition("001A"), "001A")
	c.Source = billsync.SideSalesforce
	dup, err := s.EnqueueStreamEvent(ctx, ch, 100, c)
	must(t, err)
	if dup || c.ID == 0 {
		t.Fatalf("dup %v, id %d", dup, c.ID)
	}
	wantReplay := func(want int64) {
		t.Helper()
		got, ok, err := s.ReplayID(ctx, ch)
		must(t, err)
		if !ok || got != want {
			t.Fatalf("ReplayID = %d, %v; want %d", got, ok, want)
		}
	}
	wantReplay(100)

	// A replayed event is not queued twice, but the checkpoint moves.
	again := *c
	again.ID = 0
	dup, err = s.EnqueueStreamEvent(ctx, ch, 101, &again)
	must(t, err)
	if !dup {
		t.Error("replayed event not reported duplicate")
	}
	wantReplay(101)

	// An event needing no work moves the checkpoint only.
	dup, err = s.EnqueueStreamEvent(ctx, ch, 102, nil)
	must(t, err)
	if dup {
		t.Error("nil change reported duplicate")
	}
	wantReplay(102)

	// Nothing moves when the change cannot be stored.
	_, err = s.EnqueueStreamEvent(ctx, ch, 103, &billsync.Change{EventID: "bad"})
	if err == nil {
		t.Fatal("invalid change accepted")
	}
	wantReplay(102)

	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 1 {
		t.Errorf("pending = %d, want 1", st.Pending)
	}

	// Channels are independent; SetReplayID rewinds.
	must(t, s.SetReplayID(ctx, "/data/AccountChangeEvent", -2))
	must(t, s.SetReplayID(ctx, ch, -1))
	wantReplay(-1)
	got, ok, err := s.ReplayID(ctx, "/data/AccountChangeEvent")
	must(t, err)
	if !ok || got != -2 {
		t.Errorf("other channel = %d, %v", got, ok)
	}
}

func testQueueStats(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	st, err := s.Stats(ctx)
	must(t, err)
	if st != (billsync.QueueStats{}) {
		t.Fatalf("empty stats = %+v", st)
	}
	a1, a2, b1, c1 := change("account:a", "a1"), change("account:a", "a2"), change("account:b", "b1"), change("account:c", "c1")
	enqueue(t, s, a1)
	enqueue(t, s, a2, b1, c1)
	claimIDs(t, s, 2) // a1, b1
	got, err := s.Claim(ctx, 1, time.Hour)
	must(t, err)
	must(t, s.Bury(ctx, got[0].ID, "E", "m"))
	st, err = s.Stats(ctx)
	must(t, err)
	if st.Pending != 1 || st.Running != 2 || st.DeadLetters != 1 {
		t.Errorf("stats = %+v, want 1 pending, 2 running, 1 dead", st)
	}
	if !st.OldestPending.Equal(a2.EnqueuedAt) {
		t.Errorf("OldestPending = %v, want a2's %v", st.OldestPending, a2.EnqueuedAt)
	}
}

// testQueueConcurrentClaimers runs workers that claim, check and complete
// changes at the same time: no change is handed out twice, no partition
// ever has two changes in flight, and each partition finishes in order.
func testQueueConcurrentClaimers(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	const partitions, perPartition, workers = 8, 25, 4
	var cs []*billsync.Change
	for i := range perPartition {
		for p := range partitions {
			cs = append(cs, change(fmt.Sprintf("account:%d", p), fmt.Sprintf("%d/%03d", p, i)))
		}
	}
	for i := 0; i < len(cs); i += 50 {
		enqueue(t, s, cs[i:min(i+50, len(cs))]...)
	}

	var (
		mu       sync.Mutex
		inFlight = map[string]int64{}
		done     = map[int64]int{}
		order    = map[string][]int64{}
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	deadline := time.Now().Add(waitFor)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				got, err := s.Claim(ctx, 3, time.Minute)
				if err != nil {
					fail("worker %d: claim: %v", w, err)
					return
				}
				if len(got) == 0 {
					mu.Lock()
					finished := len(done) == len(cs)
					mu.Unlock()
					if finished {
						return
					}
					time.Sleep(time.Millisecond)
					continue
				}
				mu.Lock()
				for _, c := range got {
					if other, busy := inFlight[c.Partition]; busy {
						failures = append(failures, fmt.Sprintf("partition %s: %d claimed while %d in flight", c.Partition, c.ID, other))
					}
					inFlight[c.Partition] = c.ID
					order[c.Partition] = append(order[c.Partition], c.ID)
				}
				mu.Unlock()
				for _, c := range got {
					mu.Lock()
					delete(inFlight, c.Partition)
					done[c.ID]++
					mu.Unlock()
					if err := s.Complete(ctx, c.ID); err != nil {
						fail("worker %d: complete %d: %v", w, c.ID, err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(done) != len(cs) {
		t.Fatalf("completed %d of %d changes before the deadline", len(done), len(cs))
	}
	for id, n := range done {
		if n != 1 {
			t.Errorf("change %d handed out %d times", id, n)
		}
	}
	for p, ids := range order {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("partition %s out of order: %v", p, ids)
				break
			}
		}
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 0 || st.Running != 0 {
		t.Errorf("stats after draining = %+v", st)
	}
}

func testMeta(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	_, ok, err := s.Meta(ctx, billsync.MetaSalesforceOrg)
	must(t, err)
	if ok {
		t.Fatal("new store has meta")
	}
	must(t, s.SetMeta(ctx, billsync.MetaSalesforceOrg, "00D000000000001"))
	must(t, s.SetMeta(ctx, billsync.MetaBillingTenant, "tenant-1"))
	must(t, s.SetMeta(ctx, billsync.MetaSalesforceOrg, "00D000000000002"))
	v, ok, err := s.Meta(ctx, billsync.MetaSalesforceOrg)
	must(t, err)
	if !ok || v != "00D000000000002" {
		t.Errorf("Meta = %q, %v", v, ok)
	}
	v, ok, err = s.Meta(ctx, billsync.MetaBillingTenant)
	must(t, err)
	if !ok || v != "tenant-1" {
		t.Errorf("Meta = %q, %v", v, ok)
	}
	must(t, s.SetMeta(ctx, billsync.MetaListenSince, ""))
	v, ok, err = s.Meta(ctx, billsync.MetaListenSince)
	must(t, err)
	if !ok || v != "" {
		t.Errorf("empty meta value = %q, %v", v, ok)
	}
}
