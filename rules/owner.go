package rules

import (
	"fmt"

	billsync "github.com/billsync/billsync"
)

// OwnerSource names the E3 rule that chose a quote's owner.
type OwnerSource string

const (
	OwnerFromOpportunity   OwnerSource = "opportunity"
	OwnerFromOriginalQuote OwnerSource = "original_quote"
	OwnerFromAccount       OwnerSource = "account"
)

// ReasonOriginalQuoteMissing is the sync-log reason of an amendment or
// renewal that waits for its original quote to reach Salesforce (E3).
const ReasonOriginalQuoteMissing = "original_quote_not_synced"

// OwnerInput is what the engine has read before creating a Quote. Each
// owner id is the OwnerId of that record as it stands in Salesforce, or ""
// when the record is not there (or not linked).
type OwnerInput struct {
	QuoteID   string // billing id, for messages
	QuoteType string // billsync.QuoteNew, QuoteAmendment or QuoteRenewal

	// OpportunityID is the quote's crmOpportunityId ("" when none is linked).
	OpportunityID      string
	OpportunityOwnerID string

	// OriginalQuoteID is the quote's originalQuoteId (billing id); it is
	// only consulted for amendments and renewals.
	OriginalQuoteID      string
	OriginalQuoteOwnerID string

	// AccountID is the Salesforce Account the quote's billing account links to.
	AccountID      string
	AccountOwnerID string
}

// OwnerDecision is the owner of a new Quote, or an instruction to wait.
type OwnerDecision struct {
	OwnerID string
	Source  OwnerSource
	// Wait is true when the quote cannot be created yet and must be retried
	// later; OwnerID is then empty and Reason says why.
	Wait   bool
	Reason string
}

// Err turns a Wait decision into a transient error (EUNAVAILABLE, which
// billsync.IsTransient retries); nil otherwise.
func (d OwnerDecision) Err() error {
	if !d.Wait {
		return nil
	}
	return billsync.Errorf(billsync.EUNAVAILABLE, "%s", d.Reason)
}

// QuoteOwner applies E3: the linked Opportunity's owner; else, for an
// amendment or renewal, the original quote's owner; else the Account's
// owner. An amendment or renewal whose original quote is not yet in
// Salesforce waits and never falls back to the Account's owner.
//
// A link that points at nothing (an Opportunity or Account that is not in
// Salesforce) is a *ValidationError naming the billing field, not a silent
// fall-through: a quote owned by the wrong person is worse than one that
// fails loudly.
func QuoteOwner(in OwnerInput) (OwnerDecision, error) {
	if in.OpportunityID != "" {
		if in.OpportunityOwnerID == "" {
			return OwnerDecision{}, invalid("crmOpportunityId",
				fmt.Sprintf("Opportunity %s is not in Salesforce (or its owner cannot be read)", in.OpportunityID))
		}
		return OwnerDecision{OwnerID: in.OpportunityOwnerID, Source: OwnerFromOpportunity}, nil
	}
	switch in.QuoteType {
	case billsync.QuoteAmendment, billsync.QuoteRenewal:
		if in.OriginalQuoteID == "" {
			return OwnerDecision{}, invalid("originalQuoteId",
				fmt.Sprintf("a %s quote needs the quote it amends or renews", in.QuoteType))
		}
		if in.OriginalQuoteOwnerID == "" {
			return OwnerDecision{Wait: true, Reason: fmt.Sprintf(
				"%s: original quote %s is not in Salesforce yet; waiting for it rather than falling back to the Account owner",
				ReasonOriginalQuoteMissing, in.OriginalQuoteID)}, nil
		}
		return OwnerDecision{OwnerID: in.OriginalQuoteOwnerID, Source: OwnerFromOriginalQuote}, nil
	case billsync.QuoteNew:
	default:
		return OwnerDecision{}, invalid("type",
			fmt.Sprintf("%q is not a quote type (want %s, %s or %s)", in.QuoteType,
				billsync.QuoteNew, billsync.QuoteAmendment, billsync.QuoteRenewal))
	}
	if in.AccountID == "" {
		return OwnerDecision{}, invalid("crmAccountId", "the quote's account has no linked Salesforce Account")
	}
	if in.AccountOwnerID == "" {
		return OwnerDecision{}, invalid("crmAccountId",
			fmt.Sprintf("Account %s is not in Salesforce (or its owner cannot be read)", in.AccountID))
	}
	return OwnerDecision{OwnerID: in.AccountOwnerID, Source: OwnerFromAccount}, nil
}
