package rules

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestOpportunityStage(t *testing.T) {
	mapping := map[string]string{"DRAFT": "Prospecting", "ACCEPTED": "Closed Won", "BLANKED": " "}
	tests := []struct {
		name    string
		status  string
		current string
		want    StageChange
		noMap   bool // run with no mapping configured at all
	}{
		{"E9 seed: 'An Opportunity stage update, if your org has this configured'", "ACCEPTED", "Prospecting", StageChange{true, "Closed Won", ReasonStageMapped}, false},
		{"E9: a status the mapping does not name changes nothing", "APPROVED", "Prospecting", StageChange{Reason: ReasonStageUnmapped}, false},
		{"E9 decision: a status mapped to a blank stage changes nothing", "BLANKED", "Prospecting", StageChange{Reason: ReasonStageUnmapped}, false},
		{"E9 decision: an Opportunity already at the mapped stage is not written", "DRAFT", "Prospecting", StageChange{false, "Prospecting", ReasonStageAlreadySet}, false},
		{"E9 decision: statuses match exactly, as in F5", "accepted", "Prospecting", StageChange{Reason: ReasonStageUnmapped}, false},
		{"E9: no mapping configured changes nothing", "ACCEPTED", "", StageChange{Reason: ReasonStageUnmapped}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mapping
			if tt.noMap {
				m = nil
			}
			if got := OpportunityStage(tt.status, m, tt.current); got != tt.want {
				t.Errorf("OpportunityStage(%q, current %q) = %+v, want %+v", tt.status, tt.current, got, tt.want)
			}
		})
	}
}

func TestRenewalPlaceholder(t *testing.T) {
	const code = "RENEWAL-PLACEHOLDER"
	ph := OppProduct{ID: "00kPH", ProductCode: code}
	ph2 := OppProduct{ID: "00kPH2", ProductCode: code}
	sold := OppProduct{ID: "00kSOLD", ProductCode: code, BillingQuoteItemID: "I-7"}
	other := OppProduct{ID: "00kX", ProductCode: "SEAT", BillingQuoteItemID: "I-1"}
	tests := []struct {
		name string
		in   PlaceholderInput
		want PlaceholderDecision
	}{
		{"E9 seed: 'Creation ... of placeholder renewal products' — flagged and absent: add",
			PlaceholderInput{ManualRenewal: true, ProductCode: code, Existing: []OppProduct{other}},
			PlaceholderDecision{Action: PlaceholderAdd, Reason: ReasonPlaceholderAdd}},
		{"E9 seed: '... or deletion of placeholder renewal products' — not flagged and present: remove",
			PlaceholderInput{ManualRenewal: false, ProductCode: code, Existing: []OppProduct{other, ph}},
			PlaceholderDecision{Action: PlaceholderRemove, Remove: []OppProduct{ph}, Reason: ReasonPlaceholderRemove}},
		{"E9: flagged and already present: nothing",
			PlaceholderInput{ManualRenewal: true, ProductCode: code, Existing: []OppProduct{ph}},
			PlaceholderDecision{Action: PlaceholderNone, Reason: ReasonPlaceholderOK}},
		{"E9: not flagged and absent: nothing",
			PlaceholderInput{ManualRenewal: false, ProductCode: code, Existing: []OppProduct{other}},
			PlaceholderDecision{Action: PlaceholderNone, Reason: ReasonPlaceholderOK}},
		{"E9 decision: not flagged removes every placeholder copy",
			PlaceholderInput{ManualRenewal: false, ProductCode: code, Existing: []OppProduct{ph, ph2}},
			PlaceholderDecision{Action: PlaceholderRemove, Remove: []OppProduct{ph, ph2}, Reason: ReasonPlaceholderRemove}},
		{"E9 decision: the placeholder product sold as a synced quote line is not the placeholder",
			PlaceholderInput{ManualRenewal: false, ProductCode: code, Existing: []OppProduct{sold}},
			PlaceholderDecision{Action: PlaceholderNone, Reason: ReasonPlaceholderOK}},
		{"E9 decision: a synced line of the placeholder product does not count as the placeholder being present",
			PlaceholderInput{ManualRenewal: true, ProductCode: code, Existing: []OppProduct{sold}},
			PlaceholderDecision{Action: PlaceholderAdd, Reason: ReasonPlaceholderAdd}},
		{"A3 decision: a blank renewalPlaceholderProduct setting turns the feature off",
			PlaceholderInput{ManualRenewal: true, ProductCode: "", Existing: nil},
			PlaceholderDecision{Action: PlaceholderNone, Reason: ReasonPlaceholderOff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, RenewalPlaceholder(tt.in), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("RenewalPlaceholder mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
