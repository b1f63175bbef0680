package quotesync

import (
	"fmt"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// planProducts applies F1–F5 and E12 through rules.PlanOppProducts, and
// the renewal placeholder of E9. It returns nil when the Opportunity's
// products are left alone, with the reason when that is a failure to log.
func planProducts(snap *snapshot, c checked, pr pricing, fields []mapping.QuoteField) (*productPlan, string, error) {
	if snap.set.disableOpp {
		return nil, "", nil
	}
	if snap.opp != nil {
		if pb := snap.opp.Str("Pricebook2Id"); pb != "" && !sameSFID(pb, pr.pricebookID) {
			return nil, fmt.Sprintf("Opportunity %s uses pricebook %s but the quote uses %s (%s %q); its products were not synced",
				snap.opp.ID(), pb, pr.pricebookID, billsync.KeyQuotesPricebook, snap.set.pricebook), nil
		}
	}
	ours, byItem := ownProducts(snap, c)
	plan := rules.PlanOppProducts(rules.OppProductInput{
		QuoteStatus: c.q.Status, AllowedStatuses: snap.set.allowed, DisableOppProductSync: snap.set.disableOpp,
		Lines: rules.WithOverrides(c.lines, overrides(snap.lines)), Existing: ours,
	})
	pp := &productPlan{notEligible: len(plan.Skipped), removedByPlan: len(plan.Deletes)}
	for _, d := range plan.Deletes {
		pp.deletes = append(pp.deletes, removal{d.ID, d.BillingQuoteItemID + ": " + d.Reason})
	}
	for _, l := range plan.Upserts {
		if _, bad := pr.isUnpriced(l.ItemID); bad {
			continue // logged with the line; an older product stays
		}
		rec, _, err := lineRecord(l, c.custom[l.ItemID], fields, snap.org.product, snap.obj.OppProduct.ExternalID)
		if err != nil {
			return nil, "", err
		}
		entry := pr.entries[l.ItemID]
		x, exists := byItem[l.ItemID]
		if exists && !sameSFID(x.PricebookEntryID, entry) {
			pp.deletes = append(pp.deletes, removal{x.ID, l.ItemID + ": changed product"})
			exists = false
		}
		if exists && !differs(rec, x.rec) {
			pp.unchanged++
			continue
		}
		if !exists {
			rec["PricebookEntryId"] = entry
			if snap.org.multiCurrency && creatable(snap.org.product, fieldCurrency) {
				rec[fieldCurrency] = c.q.Currency
			}
		}
		pp.writes = append(pp.writes, write{rec: rec, create: !exists})
	}
	pp.planPlaceholder(snap, c.q, pr)
	return pp, "", nil
}

// ownProducts are the Opportunity's products this quote may change:
// those whose item is on it now, had a line on the Salesforce Quote, or
// was synced before (the state remembers), plus those billsync did not
// sync, which the plan leaves alone. Another quote's products on the
// same Opportunity are not this plan's to delete.
func ownProducts(snap *snapshot, c checked) ([]rules.OppProduct, map[string]current) {
	mine := map[string]bool{}
	for _, x := range snap.lines {
		mine[x.ItemID] = true
	}
	for _, l := range c.lines {
		mine[l.ItemID] = true
	}
	if snap.st != nil {
		for _, id := range strings.Split(snap.st.Agreed[agreedItems], ",") {
			mine[id] = true
		}
	}
	var ours []rules.OppProduct
	byItem := map[string]current{}
	for _, x := range snap.products {
		if x.ItemID != "" && !mine[x.ItemID] {
			continue
		}
		ours = append(ours, rules.OppProduct{ID: x.ID, BillingQuoteItemID: x.ItemID, ProductCode: x.ProductCode})
		if x.ItemID != "" {
			byItem[x.ItemID] = x
		}
	}
	return ours, byItem
}

// overrides are the OverrideOpportunitySync__c values a sales user set on
// the quote's lines (F3).
func overrides(lines []current) map[string]string {
	out := map[string]string{}
	for _, x := range lines {
		if x.ItemID != "" {
			out[x.ItemID] = x.Override
		}
	}
	return out
}

func oppProducts(products []current) []rules.OppProduct {
	out := make([]rules.OppProduct, 0, len(products))
	for _, x := range products {
		out = append(out, rules.OppProduct{ID: x.ID, BillingQuoteItemID: x.ItemID, ProductCode: x.ProductCode})
	}
	return out
}

// planPlaceholder adds the renewal placeholder at quantity 1 and price 0
// (it marks a renewal to be worked and must not inflate the pipeline),
// without BillingQuoteItemId__c, or removes every copy of it (E9).
func (pp *productPlan) planPlaceholder(snap *snapshot, q billsync.Quote, pr pricing) {
	ph := rules.RenewalPlaceholder(rules.PlaceholderInput{ManualRenewal: q.ManualRenewal, ProductCode: snap.set.placeholder,
		Existing: oppProducts(snap.products)})
	pp.placeholder = ph.Action
	for _, p := range ph.Remove {
		pp.deletes = append(pp.deletes, removal{p.ID, "renewal placeholder: " + ph.Reason})
	}
	if ph.Action != rules.PlaceholderAdd {
		return
	}
	if pr.placeholder == "" {
		pp.placeholderErr = pr.placeholderErr
		if pp.placeholderErr == nil {
			pp.placeholderErr = billsync.Errorf(billsync.EINVALID, "no PricebookEntry for %q", snap.set.placeholder)
		}
		return
	}
	pp.placeholderRec = billsync.SObject{"PricebookEntryId": pr.placeholder, "Quantity": 1, "UnitPrice": 0}
	if snap.org.multiCurrency && creatable(snap.org.product, fieldCurrency) {
		pp.placeholderRec[fieldCurrency] = q.Currency
	}
}
