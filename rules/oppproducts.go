package rules

import (
	"cmp"
	"slices"
)

// OppProduct is an OpportunityLineItem already on the Opportunity, as the
// engine read it.
type OppProduct struct {
	ID string // Salesforce record id
	// BillingQuoteItemID is BillingQuoteItemId__c: set only on products
	// billsync synced. A product without it belongs to a person (or to the
	// renewal placeholder) and is never touched by the plan.
	BillingQuoteItemID string
	ProductCode        string // Product2.ProductCode; used for the renewal placeholder
}

// OppProductInput is everything the F1/F2 plan depends on.
type OppProductInput struct {
	QuoteStatus     string
	AllowedStatuses []string
	// DisableOppProductSync is the quotes.disableOppProductSync setting (E12).
	DisableOppProductSync bool
	Lines                 []Line       // the quote's current lines (Flatten, with Override filled in)
	Existing              []OppProduct // every OpportunityLineItem on the Opportunity
}

// OppProductDelete is one Opportunity product to remove, and why.
type OppProductDelete struct {
	OppProduct
	Reason string // ReasonNoLongerOnQuote, ReasonNoLongerEligible, ReasonDuplicateProduct
}

// LineSkip is a line left out of the Opportunity, and why (for the sync log).
type LineSkip struct {
	ItemID string
	Reason string
}

// OppProductPlan is what F1/F2 write. The engine upserts Upserts by
// BillingQuoteItemId__c with partial success (allOrNone=false) and deletes
// Deletes by id; Skipped is informational.
type OppProductPlan struct {
	// Off is non-empty when the plan does nothing at all because the quote's
	// status is not allowed (ReasonStatusNotAllowed) or Opportunity product
	// sync is disabled (ReasonOppSyncDisabled).
	Off     string
	Upserts []Line
	Deletes []OppProductDelete
	Skipped []LineSkip
}

// PlanOppProducts applies F1–F5 and E12: the current eligible lines are
// upserted; products billsync synced earlier whose line is gone, or no
// longer eligible, are deleted; products billsync did not sync are left
// alone. With the quote's status not allowed, or Opportunity product sync
// disabled, nothing is touched — not even deletes, because "syncs nothing"
// and "leave Opportunity products alone" both mean what they say.
//
// Upserts keep the quote's order; deletes are sorted by id so that the same
// input always gives the same plan.
func PlanOppProducts(in OppProductInput) OppProductPlan {
	if d := QuoteSyncs(in.QuoteStatus, in.AllowedStatuses); !d.OK {
		return OppProductPlan{Off: d.Reason}
	}
	if in.DisableOppProductSync {
		return OppProductPlan{Off: ReasonOppSyncDisabled}
	}
	var plan OppProductPlan
	eligible := map[string]bool{}
	onQuote := map[string]bool{}
	for _, l := range in.Lines {
		if l.ItemID == "" || onQuote[l.ItemID] {
			// Validation refuses these; a second line with the same id
			// would upsert the same product twice in one call.
			continue
		}
		onQuote[l.ItemID] = true
		d := LineEligible(l, in.QuoteStatus, in.AllowedStatuses)
		if d.OK {
			eligible[l.ItemID] = true
			plan.Upserts = append(plan.Upserts, l)
		} else {
			plan.Skipped = append(plan.Skipped, LineSkip{ItemID: l.ItemID, Reason: d.Reason})
		}
	}
	existing := slices.Clone(in.Existing)
	slices.SortStableFunc(existing, func(a, b OppProduct) int { return cmp.Compare(a.ID, b.ID) })
	kept := map[string]bool{}
	for _, p := range existing {
		id := p.BillingQuoteItemID
		switch {
		case id == "":
			continue
		case !onQuote[id]:
			plan.Deletes = append(plan.Deletes, OppProductDelete{p, ReasonNoLongerOnQuote})
		case !eligible[id]:
			plan.Deletes = append(plan.Deletes, OppProductDelete{p, ReasonNoLongerEligible})
		case kept[id]:
			// Two products for one line (copied by hand, or a field that is
			// not a unique external id): the upsert could not choose, so keep
			// the lowest id and remove the others.
			plan.Deletes = append(plan.Deletes, OppProductDelete{p, ReasonDuplicateProduct})
		default:
			kept[id] = true
		}
	}
	return plan
}
