package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/billsync/billsync"
)

// Conflict times are whole microseconds: PostgreSQL keeps no finer.
var conflictBase = time.Date(2026, 2, 3, 4, 5, 6, 789000, time.UTC)

// heldConflict is a manual-policy conflict on one field of an account.
func heldConflict(billingID, sfID string, at time.Time) *billsync.Conflict {
	return &billsync.Conflict{
		Time:         at,
		Object:       billsync.ObjectAccount,
		BillingID:    billingID,
		SalesforceID: sfID,
		Fields: []billsync.ConflictField{
			{Field: "name", Agreed: "Acme", Billing: "Acme Ltd", Salesforce: "ACME Inc."},
		},
		Policy:              "manual",
		Status:              billsync.ConflictHeld,
		BillingChangedAt:    at.Add(-2 * time.Second),
		SalesforceChangedAt: at.Add(-time.Second),
		ChangeID:            41,
		EventID:             "evt-" + billingID,
	}
}

// resolvedConflict is a conflict a policy settled at once.
func resolvedConflict(t billsync.ObjectType, billingID, sfID string, at time.Time) *billsync.Conflict {
	return &billsync.Conflict{
		Time: at, Object: t, BillingID: billingID, SalesforceID: sfID,
		Fields:     []billsync.ConflictField{{Field: "amount", Agreed: "1.00", Billing: "2.00", Salesforce: "3.00"}},
		Policy:     "latest-wins",
		Status:     billsync.ConflictResolved,
		Winner:     billsync.SideSalesforce,
		ResolvedAt: at, ResolvedBy: "policy:latest-wins",
		BillingChangedAt: at.Add(-2 * time.Second), SalesforceChangedAt: at.Add(-time.Second),
	}
}

func addConflict(t *testing.T, s billsync.Store, c *billsync.Conflict) *billsync.Conflict {
	t.Helper()
	must(t, s.AddConflict(t.Context(), c))
	if c.ID <= 0 {
		t.Fatalf("AddConflict set ID %d", c.ID)
	}
	return c
}

func conflictIDs(cs []billsync.Conflict) []int64 {
	ids := make([]int64, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func testConflictAddAndGet(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	_, err := s.Conflict(ctx, 1)
	wantCode(t, err, billsync.ENOTFOUND)

	in := heldConflict("acc_1", "001000000000001AAA", conflictBase.In(time.FixedZone("X", -5*3600)))
	// Values are kept verbatim: empty strings, quotes, newlines, non-ASCII.
	in.Fields = append(in.Fields,
		billsync.ConflictField{Field: "customFields.note", Agreed: "", Billing: "say \"hi\"\nbye", Salesforce: "Grüße, 東京"},
		billsync.ConflictField{Field: "creditLimit.amount", Agreed: "10.00", Billing: "10.50", Salesforce: ""},
	)
	addConflict(t, s, in)
	got, err := s.Conflict(ctx, in.ID)
	must(t, err)
	if d := cmp.Diff(in, got, equateTime); d != "" {
		t.Errorf("Conflict (-want +got):\n%s", d)
	}
	if got.Time.Location() != time.UTC {
		t.Errorf("Time %v is not UTC", got.Time)
	}
	if !got.ResolvedAt.IsZero() || got.Winner != "" {
		t.Errorf("held conflict has ResolvedAt %v, Winner %q", got.ResolvedAt, got.Winner)
	}

	r := addConflict(t, s, resolvedConflict(billsync.ObjectBalance, "bal_1", "a01000000000001AAA", conflictBase.Add(time.Minute)))
	if r.ID <= in.ID {
		t.Errorf("second conflict has ID %d, not above %d", r.ID, in.ID)
	}
	got, err = s.Conflict(ctx, r.ID)
	must(t, err)
	if d := cmp.Diff(r, got, equateTime); d != "" {
		t.Errorf("resolved Conflict (-want +got):\n%s", d)
	}

	// A zero Time is filled in, on the argument too; no fields is fine.
	bare := &billsync.Conflict{Object: billsync.ObjectQuote, BillingID: "q_1", Status: billsync.ConflictResolved, Winner: billsync.SideBilling}
	addConflict(t, s, bare)
	if bare.Time.IsZero() {
		t.Error("AddConflict left a zero Time")
	}
	got, err = s.Conflict(ctx, bare.ID)
	must(t, err)
	if d := cmp.Diff(bare, got, equateTime, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("bare Conflict (-want +got):\n%s", d)
	}

	for name, c := range map[string]*billsync.Conflict{
		"no object":  {BillingID: "x", Status: billsync.ConflictHeld},
		"no id":      {Object: billsync.ObjectAccount, Status: billsync.ConflictHeld},
		"bad status": {Object: billsync.ObjectAccount, BillingID: "x", Status: "pending"},
		"bad winner": {Object: billsync.ObjectAccount, BillingID: "x", Status: billsync.ConflictResolved, Winner: "both"},
	} {
		if err := s.AddConflict(ctx, c); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("AddConflict(%s): %v, want code %s", name, err, billsync.EINVALID)
		}
	}
	wantCode(t, s.AddConflict(ctx, nil), billsync.EINVALID)
}

func testConflictListFilters(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	list, next, err := s.Conflicts(ctx, billsync.ConflictFilter{})
	must(t, err)
	if len(list) != 0 || next != "" {
		t.Fatalf("empty store lists %d conflicts, next %q", len(list), next)
	}

	at := conflictBase
	a1 := addConflict(t, s, resolvedConflict(billsync.ObjectAccount, "acc_1", "001A", at))
	a1h := addConflict(t, s, heldConflict("acc_1", "001A", at.Add(time.Second)))
	b1 := addConflict(t, s, resolvedConflict(billsync.ObjectBalance, "bal_1", "a01B", at.Add(2*time.Second)))
	a2h := addConflict(t, s, heldConflict("acc_2", "001C", at.Add(3*time.Second)))
	// A balance whose billing id equals another record's Salesforce id:
	// a record filter matches either id.
	b2 := addConflict(t, s, resolvedConflict(billsync.ObjectBalance, "001C", "a01D", at.Add(4*time.Second)))

	for _, tc := range []struct {
		name string
		f    billsync.ConflictFilter
		want []int64
	}{
		{"all newest first", billsync.ConflictFilter{}, []int64{b2.ID, a2h.ID, b1.ID, a1h.ID, a1.ID}},
		{"held", billsync.ConflictFilter{Status: billsync.ConflictHeld}, []int64{a2h.ID, a1h.ID}},
		{"resolved", billsync.ConflictFilter{Status: billsync.ConflictResolved}, []int64{b2.ID, b1.ID, a1.ID}},
		{"object", billsync.ConflictFilter{Object: billsync.ObjectBalance}, []int64{b2.ID, b1.ID}},
		{"object none", billsync.ConflictFilter{Object: billsync.ObjectQuote}, nil},
		{"record by billing id", billsync.ConflictFilter{Record: "acc_1"}, []int64{a1h.ID, a1.ID}},
		{"record by Salesforce id", billsync.ConflictFilter{Record: "001A"}, []int64{a1h.ID, a1.ID}},
		{"record by either id", billsync.ConflictFilter{Record: "001C"}, []int64{b2.ID, a2h.ID}},
		{"record and object", billsync.ConflictFilter{Record: "001C", Object: billsync.ObjectAccount}, []int64{a2h.ID}},
		{"record and status", billsync.ConflictFilter{Record: "acc_1", Status: billsync.ConflictResolved}, []int64{a1.ID}},
		{"unknown record", billsync.ConflictFilter{Record: "nope"}, nil},
	} {
		list, next, err := s.Conflicts(ctx, tc.f)
		must(t, err)
		if d := cmp.Diff(tc.want, conflictIDs(list), cmpopts.EquateEmpty()); d != "" || next != "" {
			t.Errorf("%s: ids (-want +got):\n%s next %q", tc.name, d, next)
		}
	}

	// Listed conflicts are whole.
	list, _, err = s.Conflicts(ctx, billsync.ConflictFilter{Record: "acc_2"})
	must(t, err)
	if len(list) != 1 {
		t.Fatalf("acc_2 lists %d conflicts", len(list))
	}
	if d := cmp.Diff(*a2h, list[0], equateTime); d != "" {
		t.Errorf("listed conflict (-want +got):\n%s", d)
	}

	_, _, err = s.Conflicts(ctx, billsync.ConflictFilter{Status: "pending"})
	wantCode(t, err, billsync.EINVALID)
	_, _, err = s.Conflicts(ctx, billsync.ConflictFilter{Cursor: "not a cursor!"})
	wantCode(t, err, billsync.EINVALID)
}

func testConflictPaging(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	const n = 25
	var want []int64
	for i := range n {
		var c *billsync.Conflict
		if i%2 == 0 {
			c = resolvedConflict(billsync.ObjectAccount, fmt.Sprintf("acc_%d", i), "", conflictBase.Add(time.Duration(i)*time.Second))
		} else {
			c = heldConflict(fmt.Sprintf("acc_%d", i), fmt.Sprintf("001%03d", i), conflictBase.Add(time.Duration(i)*time.Second))
		}
		addConflict(t, s, c)
		want = append([]int64{c.ID}, want...)
	}

	// Walking every page sees each conflict once, newest first.
	var got []int64
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatal("paging does not end")
		}
		page, next, err := s.Conflicts(ctx, billsync.ConflictFilter{Limit: 10, Cursor: cursor})
		must(t, err)
		if len(page) > 10 {
			t.Fatalf("page of %d conflicts, limit 10", len(page))
		}
		got = append(got, conflictIDs(page)...)
		if next == "" {
			break
		}
		cursor = next
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("paged ids (-want +got):\n%s", d)
	}

	// Paging composes with a filter, and an exact last page has no cursor.
	page, next, err := s.Conflicts(ctx, billsync.ConflictFilter{Status: billsync.ConflictHeld, Limit: 6})
	must(t, err)
	if len(page) != 6 || next == "" {
		t.Fatalf("first held page: %d conflicts, next %q", len(page), next)
	}
	page2, next, err := s.Conflicts(ctx, billsync.ConflictFilter{Status: billsync.ConflictHeld, Limit: 6, Cursor: next})
	must(t, err)
	if len(page2) != 6 || next != "" {
		t.Fatalf("last held page: %d conflicts, next %q", len(page2), next)
	}
	for _, c := range append(page, page2...) {
		if c.Status != billsync.ConflictHeld {
			t.Errorf("held page lists conflict %d, %s", c.ID, c.Status)
		}
	}
	if page2[0].ID >= page[len(page)-1].ID {
		t.Errorf("second page starts at %d, not below %d", page2[0].ID, page[len(page)-1].ID)
	}

	// The default page is 100, the largest 1000; both hold all 25 here.
	for _, limit := range []int{0, 5000} {
		page, next, err := s.Conflicts(ctx, billsync.ConflictFilter{Limit: limit})
		must(t, err)
		if len(page) != n || next != "" {
			t.Errorf("Limit %d: %d conflicts, next %q", limit, len(page), next)
		}
	}
}

func testConflictHeld(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	_, err := s.HeldConflict(ctx, billsync.ObjectAccount, "acc_1")
	wantCode(t, err, billsync.ENOTFOUND)

	// Resolved conflicts of the record, a held one of another record and
	// one of another type with the same billing id are not it.
	addConflict(t, s, resolvedConflict(billsync.ObjectAccount, "acc_1", "001A", conflictBase))
	addConflict(t, s, heldConflict("acc_2", "001B", conflictBase.Add(time.Second)))
	other := heldConflict("acc_1", "a01C", conflictBase.Add(2*time.Second))
	other.Object = billsync.ObjectBalance
	addConflict(t, s, other)
	_, err = s.HeldConflict(ctx, billsync.ObjectAccount, "acc_1")
	wantCode(t, err, billsync.ENOTFOUND)

	held := addConflict(t, s, heldConflict("acc_1", "001A", conflictBase.Add(3*time.Second)))
	addConflict(t, s, resolvedConflict(billsync.ObjectAccount, "acc_1", "001A", conflictBase.Add(4*time.Second)))
	got, err := s.HeldConflict(ctx, billsync.ObjectAccount, "acc_1")
	must(t, err)
	if d := cmp.Diff(held, got, equateTime); d != "" {
		t.Errorf("HeldConflict (-want +got):\n%s", d)
	}

	// A record has at most one held conflict: while it is held nothing is
	// written, so a second could only be a duplicate.
	wantCode(t, s.AddConflict(ctx, heldConflict("acc_1", "001A", conflictBase.Add(5*time.Second))), billsync.ECONFLICT)

	// Once it is resolved the record may be held again.
	_, err = s.ResolveConflict(ctx, held.ID, billsync.SideBilling, "ops", conflictBase.Add(6*time.Second))
	must(t, err)
	_, err = s.HeldConflict(ctx, billsync.ObjectAccount, "acc_1")
	wantCode(t, err, billsync.ENOTFOUND)
	again := addConflict(t, s, heldConflict("acc_1", "001A", conflictBase.Add(7*time.Second)))
	got, err = s.HeldConflict(ctx, billsync.ObjectAccount, "acc_1")
	must(t, err)
	if got.ID != again.ID {
		t.Errorf("HeldConflict = #%d, want #%d", got.ID, again.ID)
	}
}

func testConflictResolve(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	held := addConflict(t, s, heldConflict("acc_1", "001A", conflictBase))
	at := conflictBase.Add(time.Hour).In(time.FixedZone("Y", 7200))

	_, err := s.ResolveConflict(ctx, held.ID, "both", "ops", at)
	wantCode(t, err, billsync.EINVALID)
	_, err = s.ResolveConflict(ctx, held.ID+1000, billsync.SideSalesforce, "ops", at)
	wantCode(t, err, billsync.ENOTFOUND)

	want := *held
	want.Status, want.Winner, want.ResolvedBy, want.ResolvedAt = billsync.ConflictResolved, billsync.SideSalesforce, "ops", at
	got, err := s.ResolveConflict(ctx, held.ID, billsync.SideSalesforce, "ops", at)
	must(t, err)
	if d := cmp.Diff(&want, got, equateTime); d != "" {
		t.Errorf("ResolveConflict (-want +got):\n%s", d)
	}
	got, err = s.Conflict(ctx, held.ID)
	must(t, err)
	if d := cmp.Diff(&want, got, equateTime); d != "" {
		t.Errorf("Conflict after resolving (-want +got):\n%s", d)
	}
	if got.ResolvedAt.Location() != time.UTC {
		t.Errorf("ResolvedAt %v is not UTC", got.ResolvedAt)
	}

	// Not held any more: a second decision, or one on a conflict a policy
	// resolved, is refused and changes nothing.
	_, err = s.ResolveConflict(ctx, held.ID, billsync.SideBilling, "someone else", at.Add(time.Minute))
	wantCode(t, err, billsync.ECONFLICT)
	got, err = s.Conflict(ctx, held.ID)
	must(t, err)
	if d := cmp.Diff(&want, got, equateTime); d != "" {
		t.Errorf("Conflict after a refused second resolve (-want +got):\n%s", d)
	}
	r := addConflict(t, s, resolvedConflict(billsync.ObjectAccount, "acc_2", "001B", conflictBase))
	_, err = s.ResolveConflict(ctx, r.ID, billsync.SideBilling, "ops", at)
	wantCode(t, err, billsync.ECONFLICT)

	// Operators racing on one conflict: exactly one wins.
	race := addConflict(t, s, heldConflict("acc_3", "001C", conflictBase))
	const racers = 8
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			_, errs[i] = s.ResolveConflict(ctx, race.ID, billsync.SideBilling, fmt.Sprintf("op%d", i), at)
		})
	}
	wg.Wait()
	var won int
	for _, err := range errs {
		switch billsync.ErrorCode(err) {
		case "":
			won++
		case billsync.ECONFLICT:
		default:
			t.Errorf("racing ResolveConflict: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d racing resolves succeeded, want 1", won)
	}
}

func testConflictCountHeld(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	count := func(want int64) {
		t.Helper()
		n, err := s.CountHeld(ctx)
		must(t, err)
		if n != want {
			t.Errorf("CountHeld = %d, want %d", n, want)
		}
	}
	count(0)
	addConflict(t, s, resolvedConflict(billsync.ObjectAccount, "acc_0", "", conflictBase))
	count(0)
	var held []*billsync.Conflict
	for i := range 3 {
		held = append(held, addConflict(t, s, heldConflict(fmt.Sprintf("acc_%d", i+1), "", conflictBase)))
	}
	count(3)
	_, err := s.ResolveConflict(ctx, held[1].ID, billsync.SideBilling, "ops", conflictBase.Add(time.Minute))
	must(t, err)
	count(2)
}
