package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	billsync "github.com/billsync/billsync"
)

func TestPlanOppProducts(t *testing.T) {
	allowed := []string{"DRAFT", "APPROVED"}
	ln := func(id, qty, override string) Line {
		return Line{ItemID: id, ProductCode: "P-" + id, ProductType: "SUBSCRIPTION",
			Quantity: billsync.MustMoney(qty), UnitPrice: billsync.MustMoney("1"), Override: override}
	}
	synced := func(sfID, itemID string) OppProduct { return OppProduct{ID: sfID, BillingQuoteItemID: itemID} }
	manual := OppProduct{ID: "00kMANUAL", ProductCode: "CONSULTING"}

	type want struct {
		Off     string
		Upserts []string // item ids
		Deletes []OppProductDelete
		Skipped []LineSkip
	}
	tests := []struct {
		name string
		in   OppProductInput
		want want
	}{
		{
			name: "F2 seed: 'Upserts current Quote Items as Opportunity Products'",
			in:   OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed, Lines: []Line{ln("I-1", "1", ""), ln("I-2", "2", "")}},
			want: want{Upserts: []string{"I-1", "I-2"}},
		},
		{
			name: "F1 seed: 'Removes any previously synced Opportunity Products that are no longer on the quote'",
			in: OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed,
				Lines:    []Line{ln("I-1", "1", "")},
				Existing: []OppProduct{synced("00k1", "I-1"), synced("00k9", "I-9")}},
			want: want{Upserts: []string{"I-1"}, Deletes: []OppProductDelete{{synced("00k9", "I-9"), ReasonNoLongerOnQuote}}},
		},
		{
			name: "F1 decision: a previously synced product whose line is no longer eligible is removed",
			in: OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed,
				Lines:    []Line{ln("I-1", "1", "NEVER"), ln("I-2", "0", "")},
				Existing: []OppProduct{synced("00k1", "I-1"), synced("00k2", "I-2")}},
			want: want{
				Deletes: []OppProductDelete{{synced("00k1", "I-1"), ReasonNoLongerEligible}, {synced("00k2", "I-2"), ReasonNoLongerEligible}},
				Skipped: []LineSkip{{"I-1", ReasonOverrideNever}, {"I-2", ReasonZeroQuantity}},
			},
		},
		{
			name: "F1: Opportunity products billsync did not sync (no BillingQuoteItemId__c) are never touched",
			in: OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed,
				Lines: []Line{ln("I-1", "1", "")}, Existing: []OppProduct{manual, synced("00k1", "I-1")}},
			want: want{Upserts: []string{"I-1"}},
		},
		{
			name: "F2: an ineligible line that was never synced is only skipped",
			in:   OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed, Lines: []Line{ln("I-1", "0", "")}},
			want: want{Skipped: []LineSkip{{"I-1", ReasonZeroQuantity}}},
		},
		{
			name: "F3: ALWAYS brings a zero-quantity line in",
			in:   OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed, Lines: []Line{ln("I-1", "0", "ALWAYS")}},
			want: want{Upserts: []string{"I-1"}},
		},
		{
			name: "E12 seed: 'unless syncing has been disabled via the DisableOppProductSync__c setting' — nothing is touched, not even deletes",
			in: OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed, DisableOppProductSync: true,
				Lines: []Line{ln("I-1", "1", "")}, Existing: []OppProduct{synced("00k9", "I-9")}},
			want: want{Off: ReasonOppSyncDisabled},
		},
		{
			name: "F5 decision: a quote in a disallowed status syncs nothing — no upserts, no deletes, even with ALWAYS",
			in: OppProductInput{QuoteStatus: "CANCELED", AllowedStatuses: allowed,
				Lines: []Line{ln("I-1", "1", "ALWAYS")}, Existing: []OppProduct{synced("00k9", "I-9")}},
			want: want{Off: ReasonStatusNotAllowed},
		},
		{
			name: "F1 decision: two products for one line keep the lowest id and remove the rest",
			in: OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed,
				Lines: []Line{ln("I-1", "1", "")}, Existing: []OppProduct{synced("00kB", "I-1"), synced("00kA", "I-1")}},
			want: want{Upserts: []string{"I-1"}, Deletes: []OppProductDelete{{synced("00kB", "I-1"), ReasonDuplicateProduct}}},
		},
		{
			name: "F1: a quote with no lines left removes every product billsync synced, and only those",
			in: OppProductInput{QuoteStatus: "DRAFT", AllowedStatuses: allowed,
				Existing: []OppProduct{synced("00k2", "I-2"), manual, synced("00k1", "I-1")}},
			want: want{Deletes: []OppProductDelete{{synced("00k1", "I-1"), ReasonNoLongerOnQuote}, {synced("00k2", "I-2"), ReasonNoLongerOnQuote}}},
		},
		{
			name: "E2 decision: a repeated item id is upserted once",
			in:   OppProductInput{QuoteStatus: "APPROVED", AllowedStatuses: allowed, Lines: []Line{ln("I-1", "1", ""), ln("I-1", "2", "")}},
			want: want{Upserts: []string{"I-1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := PlanOppProducts(tt.in)
			got := want{Off: plan.Off, Deletes: plan.Deletes, Skipped: plan.Skipped}
			for _, l := range plan.Upserts {
				got.Upserts = append(got.Upserts, l.ItemID)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
