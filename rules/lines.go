package rules

import (
	"strings"

	billsync "github.com/billsync/billsync"
)

// Line is one flattened quote line (E2): a quote item together with the
// offering it belongs to. It becomes one QuoteLineItem and, when eligible,
// one OpportunityLineItem.
type Line struct {
	ItemID          string // billing quote item id → BillingQuoteItemId__c
	OfferingID      string
	OfferingName    string
	ProductCode     string
	ProductName     string
	ProductType     string
	Quantity        billsync.Money
	UnitPrice       billsync.Money
	AmendmentStatus string
	// Override is OverrideOpportunitySync__c as it stands on the line's
	// QuoteLineItem in Salesforce: a sales user sets it there, the billing
	// platform never does. Flatten leaves it blank; the engine fills it in.
	Override string
}

// Values of OverrideOpportunitySync__c (F3).
const (
	OverrideAlways = "ALWAYS"
	OverrideNever  = "NEVER"
)

// Product types and amendment statuses the rules look at (SPEC §2); both are
// the billing platform's upper-case codes and are matched exactly.
const (
	ProductTypeUsage        = "USAGE"
	AmendmentStatusNoChange = "NO_CHANGE"
)

// Flatten turns a quote's offerings and items into lines, one per item, in
// the quote's order, each carrying its offering's id and name (E2). An
// offering without items gives no line.
func Flatten(q billsync.Quote) []Line {
	var lines []Line
	for _, o := range q.Offerings {
		for _, it := range o.Items {
			lines = append(lines, Line{
				ItemID:          it.ID,
				OfferingID:      o.ID,
				OfferingName:    o.Name,
				ProductCode:     it.ProductCode,
				ProductName:     it.ProductName,
				ProductType:     it.ProductType,
				Quantity:        it.Quantity,
				UnitPrice:       it.UnitPrice,
				AmendmentStatus: it.AmendmentStatus,
			})
		}
	}
	return lines
}

// Reason codes of sync decisions; stable, for the sync log (G1).
const (
	ReasonStatusNotAllowed  = "status_not_allowed"
	ReasonEligible          = "eligible"
	ReasonOverrideAlways    = "override_always"
	ReasonOverrideNever     = "override_never"
	ReasonZeroQuantity      = "zero_quantity"
	ReasonNegativeQuantity  = "negative_quantity"
	ReasonNoChange          = "amendment_no_change"
	ReasonOppSyncDisabled   = "opp_product_sync_disabled"
	ReasonNoLongerOnQuote   = "no_longer_on_quote"
	ReasonNoLongerEligible  = "no_longer_eligible"
	ReasonDuplicateProduct  = "duplicate_opportunity_product"
	ReasonStageMapped       = "stage_mapped"
	ReasonStageUnmapped     = "stage_unmapped"
	ReasonStageAlreadySet   = "stage_already_set"
	ReasonPlaceholderAdd    = "renewal_placeholder_added"
	ReasonPlaceholderRemove = "renewal_placeholder_removed"
	ReasonPlaceholderOK     = "renewal_placeholder_unchanged"
	ReasonPlaceholderOff    = "renewal_placeholder_not_configured"
)

// Decision is a yes/no rule outcome with the reason code that decided it.
type Decision struct {
	OK     bool
	Reason string
}

// QuoteSyncs applies F5 (and A3): a quote syncs at all only when its status
// is in the allowed list. Statuses are the billing platform's upper-case
// codes and match exactly; an empty list allows nothing, because a list an
// operator emptied should not turn into "sync everything".
func QuoteSyncs(status string, allowed []string) Decision {
	for _, a := range allowed {
		if a == status {
			return Decision{OK: true, Reason: ReasonEligible}
		}
	}
	return Decision{OK: false, Reason: ReasonStatusNotAllowed}
}

// LineEligible applies F3–F5 to one line of a quote whose status is
// quoteStatus: a quote in a disallowed status syncs nothing, so not even
// ALWAYS brings its lines in; otherwise NEVER keeps a line out and ALWAYS
// forces it in (past zero or negative quantity and NO_CHANGE); otherwise a
// line needs a quantity above zero — zero is allowed for usage-based
// products, negative never — and an amendment status other than NO_CHANGE.
func LineEligible(l Line, quoteStatus string, allowed []string) Decision {
	if d := QuoteSyncs(quoteStatus, allowed); !d.OK {
		return d
	}
	switch normOverride(l.Override) {
	case OverrideNever:
		return Decision{OK: false, Reason: ReasonOverrideNever}
	case OverrideAlways:
		return Decision{OK: true, Reason: ReasonOverrideAlways}
	}
	switch sign := l.Quantity.Cmp(billsync.Money{}); {
	case sign < 0:
		return Decision{OK: false, Reason: ReasonNegativeQuantity}
	case sign == 0 && l.ProductType != ProductTypeUsage:
		return Decision{OK: false, Reason: ReasonZeroQuantity}
	}
	if l.AmendmentStatus == AmendmentStatusNoChange {
		return Decision{OK: false, Reason: ReasonNoChange}
	}
	return Decision{OK: true, Reason: ReasonEligible}
}

// normOverride reads the picklist leniently: a value typed through a
// non-restricted picklist or the API may differ in case or spacing, and
// anything that is neither ALWAYS nor NEVER counts as blank.
func normOverride(v string) string {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case OverrideAlways:
		return OverrideAlways
	case OverrideNever:
		return OverrideNever
	}
	return ""
}

// WithOverrides returns a copy of lines with Override filled in from the
// OverrideOpportunitySync__c values of the quote's QuoteLineItems, keyed by
// BillingQuoteItemId__c. A line without a QuoteLineItem yet (a new line)
// keeps a blank override.
func WithOverrides(lines []Line, overrides map[string]string) []Line {
	out := make([]Line, len(lines))
	for i, l := range lines {
		l.Override = overrides[l.ItemID]
		out[i] = l
	}
	return out
}
