package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	billsync "github.com/billsync/billsync"
)

var moneyCmp = cmp.Comparer(func(a, b billsync.Money) bool { return a.String() == b.String() })

func TestFlatten(t *testing.T) {
	q := billsync.Quote{
		ID: "Q-1",
		Offerings: []billsync.QuoteOffering{
			{ID: "OF-1", Name: "Platform", Items: []billsync.QuoteItem{
				{ID: "I-1", ProductCode: "SEAT", ProductName: "Seat", ProductType: "SUBSCRIPTION", Quantity: billsync.MustMoney("10"), UnitPrice: billsync.MustMoney("12.50"), AmendmentStatus: "ADDED"},
				{ID: "I-2", ProductCode: "API", ProductType: "USAGE", Quantity: billsync.MustMoney("0"), UnitPrice: billsync.MustMoney("0.0010")},
			}},
			{ID: "OF-2", Name: "Empty"},
			{ID: "OF-3", Name: "Services", Items: []billsync.QuoteItem{
				{ID: "I-3", ProductCode: "ONBOARD", ProductType: "ONE_TIME", Quantity: billsync.MustMoney("1"), UnitPrice: billsync.MustMoney("500")},
			}},
		},
	}
	want := []Line{
		{ItemID: "I-1", OfferingID: "OF-1", OfferingName: "Platform", ProductCode: "SEAT", ProductName: "Seat", ProductType: "SUBSCRIPTION", Quantity: billsync.MustMoney("10"), UnitPrice: billsync.MustMoney("12.50"), AmendmentStatus: "ADDED"},
		{ItemID: "I-2", OfferingID: "OF-1", OfferingName: "Platform", ProductCode: "API", ProductType: "USAGE", Quantity: billsync.MustMoney("0"), UnitPrice: billsync.MustMoney("0.0010")},
		{ItemID: "I-3", OfferingID: "OF-3", OfferingName: "Services", ProductCode: "ONBOARD", ProductType: "ONE_TIME", Quantity: billsync.MustMoney("1"), UnitPrice: billsync.MustMoney("500")},
	}
	// E2 seed: 'MonetizeNow flattens the data (combining Quote Offering + Quote Items)'
	if diff := cmp.Diff(want, Flatten(q), moneyCmp); diff != "" {
		t.Errorf("E2: Flatten mismatch (-want +got):\n%s", diff)
	}
	if got := Flatten(billsync.Quote{ID: "Q-2"}); len(got) != 0 {
		t.Errorf("E2: a quote without offerings gives %d lines, want 0", len(got))
	}
}

func TestQuoteSyncs(t *testing.T) {
	allowed := []string{"DRAFT", "APPROVED"}
	tests := []struct {
		name    string
		status  string
		allowed []string
		want    Decision
	}{
		{"F5 seed: 'Syncing only occurs for quotes in allowed statuses' (allowed)", "APPROVED", allowed, Decision{true, ReasonEligible}},
		{"F5 seed: 'Syncing only occurs for quotes in allowed statuses' (not allowed)", "CANCELED", allowed, Decision{false, ReasonStatusNotAllowed}},
		{"F5 decision: statuses match exactly (MonetizeNow's upper-case codes)", "approved", allowed, Decision{false, ReasonStatusNotAllowed}},
		{"F5 decision: an empty allowed list allows nothing", "APPROVED", nil, Decision{false, ReasonStatusNotAllowed}},
		{"F5: a blank status is never allowed", "", allowed, Decision{false, ReasonStatusNotAllowed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := QuoteSyncs(tt.status, tt.allowed); got != tt.want {
				t.Errorf("QuoteSyncs(%q, %q) = %+v, want %+v", tt.status, tt.allowed, got, tt.want)
			}
		})
	}
}

func TestLineEligible(t *testing.T) {
	allowed := []string{"DRAFT", "APPROVED"}
	line := func(qty, ptype, amend, override string) Line {
		return Line{ItemID: "I-1", ProductCode: "P", ProductType: ptype, Quantity: billsync.MustMoney(qty),
			UnitPrice: billsync.MustMoney("1"), AmendmentStatus: amend, Override: override}
	}
	tests := []struct {
		name   string
		line   Line
		status string
		want   Decision
	}{
		{"F4: a line with quantity above zero is eligible", line("2", "SUBSCRIPTION", "", ""), "APPROVED", Decision{true, ReasonEligible}},
		{"F4 seed: 'Zero-quantity items are skipped by default'", line("0", "SUBSCRIPTION", "", ""), "APPROVED", Decision{false, ReasonZeroQuantity}},
		{"F4: zero written with a scale ('0.00') is zero too", line("0.00", "ONE_TIME", "", ""), "APPROVED", Decision{false, ReasonZeroQuantity}},
		{"F4 seed: '(unless marked as usage-based)' — zero quantity allowed for USAGE", line("0", "USAGE", "", ""), "APPROVED", Decision{true, ReasonEligible}},
		{"F4 decision: a negative quantity is not eligible", line("-1", "SUBSCRIPTION", "", ""), "APPROVED", Decision{false, ReasonNegativeQuantity}},
		{"F4 decision: a negative quantity is not eligible even for USAGE", line("-1", "USAGE", "", ""), "APPROVED", Decision{false, ReasonNegativeQuantity}},
		{"F4 decision: product type matches exactly ('usage' is not USAGE)", line("0", "usage", "", ""), "APPROVED", Decision{false, ReasonZeroQuantity}},
		{"F4 seed: 'unchanged lines (AmendmentStatus = NO_CHANGE) are ignored'", line("3", "SUBSCRIPTION", "NO_CHANGE", ""), "APPROVED", Decision{false, ReasonNoChange}},
		{"F4: ADDED amendment lines are eligible", line("3", "SUBSCRIPTION", "ADDED", ""), "APPROVED", Decision{true, ReasonEligible}},
		{"F4: UPDATED amendment lines are eligible", line("3", "SUBSCRIPTION", "UPDATED", ""), "APPROVED", Decision{true, ReasonEligible}},
		{"F4 decision: REMOVED is not NO_CHANGE, so a REMOVED line with a positive quantity is eligible", line("3", "SUBSCRIPTION", "REMOVED", ""), "APPROVED", Decision{true, ReasonEligible}},
		{"F3 seed: 'Set to ALWAYS to force sync' (past zero quantity)", line("0", "SUBSCRIPTION", "", "ALWAYS"), "APPROVED", Decision{true, ReasonOverrideAlways}},
		{"F3 decision: ALWAYS forces in a negative quantity", line("-2", "SUBSCRIPTION", "", "ALWAYS"), "APPROVED", Decision{true, ReasonOverrideAlways}},
		{"F3 seed: 'NO_CHANGE ... are ignored, unless explicitly overridden' (ALWAYS)", line("3", "SUBSCRIPTION", "NO_CHANGE", "ALWAYS"), "APPROVED", Decision{true, ReasonOverrideAlways}},
		{"F3 seed: 'Set to NEVER to skip syncing that item entirely'", line("5", "SUBSCRIPTION", "ADDED", "NEVER"), "APPROVED", Decision{false, ReasonOverrideNever}},
		{"F3: NEVER keeps out even a usage line", line("0", "USAGE", "", "NEVER"), "APPROVED", Decision{false, ReasonOverrideNever}},
		{"F3+F5 decision: ALWAYS cannot force a line of a quote in a disallowed status", line("5", "SUBSCRIPTION", "", "ALWAYS"), "CANCELED", Decision{false, ReasonStatusNotAllowed}},
		{"F5: an otherwise eligible line of a quote in a disallowed status is not eligible", line("5", "SUBSCRIPTION", "", ""), "CANCELED", Decision{false, ReasonStatusNotAllowed}},
		{"F3 decision: the override is read case- and space-insensitively", line("0", "SUBSCRIPTION", "", " always "), "APPROVED", Decision{true, ReasonOverrideAlways}},
		{"F3 decision: an unknown override value counts as blank", line("0", "SUBSCRIPTION", "", "SOMETIMES"), "APPROVED", Decision{false, ReasonZeroQuantity}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LineEligible(tt.line, tt.status, allowed); got != tt.want {
				t.Errorf("LineEligible = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestWithOverrides(t *testing.T) {
	lines := []Line{{ItemID: "I-1"}, {ItemID: "I-2", Override: "stale"}}
	got := WithOverrides(lines, map[string]string{"I-1": OverrideAlways})
	if got[0].Override != OverrideAlways || got[1].Override != "" {
		t.Errorf("F3: overrides = %q, %q; want ALWAYS and blank (from Salesforce, not from billing)", got[0].Override, got[1].Override)
	}
	if lines[0].Override != "" {
		t.Error("WithOverrides changed its input")
	}
}
