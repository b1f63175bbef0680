package rules

import (
	"testing"

	billsync "github.com/billsync/billsync"
)

func TestQuoteOwner(t *testing.T) {
	base := OwnerInput{QuoteID: "Q-1", AccountID: "001A", AccountOwnerID: "005ACCT"}
	with := func(f func(*OwnerInput)) OwnerInput { in := base; f(&in); return in }
	tests := []struct {
		name      string
		in        OwnerInput
		want      OwnerDecision
		wantField string // a ValidationError naming this field
	}{
		{
			name: "E3 seed: 'If the quote is linked to an Opportunity, its owner is used'",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteNew
				in.OpportunityID, in.OpportunityOwnerID = "006X", "005OPP"
			}),
			want: OwnerDecision{OwnerID: "005OPP", Source: OwnerFromOpportunity},
		},
		{
			name: "E3 seed: 'For amendments and renewals, the original quote's owner is retained' (amendment)",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteAmendment
				in.OriginalQuoteID, in.OriginalQuoteOwnerID = "Q-0", "005ORIG"
			}),
			want: OwnerDecision{OwnerID: "005ORIG", Source: OwnerFromOriginalQuote},
		},
		{
			name: "E3 seed: 'For amendments and renewals, the original quote's owner is retained' (renewal)",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteRenewal
				in.OriginalQuoteID, in.OriginalQuoteOwnerID = "Q-0", "005ORIG"
			}),
			want: OwnerDecision{OwnerID: "005ORIG", Source: OwnerFromOriginalQuote},
		},
		{
			name: "E3 seed: 'Otherwise, the Account owner becomes the fallback'",
			in:   with(func(in *OwnerInput) { in.QuoteType = billsync.QuoteNew }),
			want: OwnerDecision{OwnerID: "005ACCT", Source: OwnerFromAccount},
		},
		{
			name: "E3 decision: an amendment linked to an Opportunity takes the Opportunity's owner (precedence order of the seed)",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteAmendment
				in.OpportunityID, in.OpportunityOwnerID = "006X", "005OPP"
				in.OriginalQuoteID, in.OriginalQuoteOwnerID = "Q-0", "005ORIG"
			}),
			want: OwnerDecision{OwnerID: "005OPP", Source: OwnerFromOpportunity},
		},
		{
			name: "E3 decision: an amendment linked to an Opportunity does not wait for its original quote",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteRenewal
				in.OpportunityID, in.OpportunityOwnerID = "006X", "005OPP"
				in.OriginalQuoteID = "Q-0"
			}),
			want: OwnerDecision{OwnerID: "005OPP", Source: OwnerFromOpportunity},
		},
		{
			name: "E3: 'An amendment or renewal whose original quote is not yet in Salesforce waits and retries; it never falls back to the Account's owner'",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteAmendment
				in.OriginalQuoteID = "Q-0"
			}),
			want: OwnerDecision{Wait: true},
		},
		{
			name: "E3: a renewal whose original quote is not in Salesforce waits too",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteRenewal
				in.OriginalQuoteID = "Q-0"
			}),
			want: OwnerDecision{Wait: true},
		},
		{
			name: "E3 decision: a NEW quote ignores an originalQuoteId and takes the Account owner",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteNew
				in.OriginalQuoteID, in.OriginalQuoteOwnerID = "Q-0", "005ORIG"
			}),
			want: OwnerDecision{OwnerID: "005ACCT", Source: OwnerFromAccount},
		},
		{
			name: "E3+E5 decision: a linked Opportunity that is not in Salesforce fails naming crmOpportunityId, no fall-through",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteNew
				in.OpportunityID = "006GONE"
			}),
			wantField: "crmOpportunityId",
		},
		{
			name:      "E3+E5: an amendment without originalQuoteId fails naming originalQuoteId",
			in:        with(func(in *OwnerInput) { in.QuoteType = billsync.QuoteAmendment }),
			wantField: "originalQuoteId",
		},
		{
			name: "E3+E5: the Account fallback without a linked Salesforce Account fails naming crmAccountId",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteNew
				in.AccountID, in.AccountOwnerID = "", ""
			}),
			wantField: "crmAccountId",
		},
		{
			name: "E3+E5: the Account fallback with an Account missing from Salesforce fails naming crmAccountId",
			in: with(func(in *OwnerInput) {
				in.QuoteType = billsync.QuoteNew
				in.AccountOwnerID = ""
			}),
			wantField: "crmAccountId",
		},
		{
			name:      "E3+E5: an unknown quote type fails naming type",
			in:        with(func(in *OwnerInput) { in.QuoteType = "amendment" }),
			wantField: "type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := QuoteOwner(tt.in)
			if tt.wantField != "" {
				if err == nil {
					t.Fatalf("QuoteOwner = %+v, want an error naming %s", got, tt.wantField)
				}
				if f := FieldOf(err); f != tt.wantField {
					t.Errorf("error %q names field %q, want %q", err, f, tt.wantField)
				}
				if c := billsync.ErrorCode(err); c != billsync.EINVALID {
					t.Errorf("error code %q, want %q", c, billsync.EINVALID)
				}
				return
			}
			if err != nil {
				t.Fatalf("QuoteOwner: %v", err)
			}
			if got.Wait != tt.want.Wait || got.OwnerID != tt.want.OwnerID || got.Source != tt.want.Source {
				t.Fatalf("QuoteOwner = %+v, want %+v", got, tt.want)
			}
			if got.Wait {
				if got.Reason == "" {
					t.Error("a Wait decision must say why")
				}
				if !billsync.IsTransient(got.Err()) {
					t.Errorf("Wait decision's Err() = %v, want a transient error", got.Err())
				}
			} else if got.Err() != nil {
				t.Errorf("Err() = %v for a decided owner", got.Err())
			}
		})
	}
}
