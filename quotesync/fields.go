package quotesync

import (
	"fmt"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// How the mapping's field lists become record fields: the source a line
// is read from, and the fields a wildcard must not reach.

// itemCustomFields are the customFields of each quote item, by item id,
// as the billing quote carries them (E8 for lines): rules.Flatten keeps
// only the typed fields of a line.
func itemCustomFields(ent billsync.Entity) map[string]map[string]any {
	out := map[string]map[string]any{}
	offerings, _ := ent["offerings"].([]any)
	for _, o := range offerings {
		om, _ := o.(map[string]any)
		items, _ := om["items"].([]any)
		for _, it := range items {
			im, _ := it.(map[string]any)
			id, _ := im["id"].(string)
			if cf, ok := im["customFields"].(map[string]any); ok && id != "" {
				out[id] = cf
			}
		}
	}
	return out
}

// lineSource is a flattened line as the mapping's line and oppProduct
// paths name it.
func lineSource(l rules.Line, custom map[string]any) billsync.Entity {
	src := billsync.Entity{
		"itemId": l.ItemID, "offeringId": l.OfferingID, "offeringName": l.OfferingName, "productCode": l.ProductCode,
		"productName": l.ProductName, "productType": l.ProductType, "quantity": l.Quantity.String(),
		"unitPrice": l.UnitPrice.String(), "amendmentStatus": l.AmendmentStatus,
	}
	if custom != nil {
		src["customFields"] = custom
	}
	return src
}

// lineRecord is a line's mapped fields, keyed by the object's external id
// (extID).
func lineRecord(l rules.Line, custom map[string]any, fields []mapping.QuoteField, d *billsync.SObjectDescribe, extID string) (billsync.SObject, []string, error) {
	as, _, err := mapping.Apply(fields, lineSource(l, custom), fieldSet(d))
	if err != nil {
		return nil, nil, fmt.Errorf("quote line %s: %w", l.ItemID, err)
	}
	rec := billsync.SObject{extID: l.ItemID}
	var lossy []string
	for _, f := range guarded(as, extID) {
		rec[f.Salesforce] = f.Value
		if f.Lossy {
			lossy = append(lossy, "line "+l.ItemID+" "+f.Billing)
		}
	}
	return rec, lossy, nil
}

// ownFields are the fields quote sync sets itself on its records: a
// customFields key that happens to form one of these names through a
// wildcard must not overwrite it (an entry that names one on purpose
// still does).
var ownFields = []string{
	"Id", "Name", "OwnerId", "AccountId", "OpportunityId", "QuoteId", "PricebookEntryId", "Pricebook2Id",
	"StageName", "CloseDate", fieldCurrency, fieldOverride,
	mapping.FieldLastSystem, mapping.FieldSyncStatus, mapping.FieldSyncError, mapping.FieldLastSyncedAt,
	mapping.FieldDeleted, mapping.FieldRevision,
}

// guarded drops the wildcard assignments that reach extID or ownFields.
func guarded(as []mapping.Assignment, extID string) []mapping.Assignment {
	out := as[:0:0]
	for _, a := range as {
		if a.Wildcard && (strings.EqualFold(a.Salesforce, extID) || isOwnField(a.Salesforce)) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func isOwnField(name string) bool {
	for _, f := range ownFields {
		if strings.EqualFold(f, name) {
			return true
		}
	}
	return false
}

// reached are the fields the wildcard entries of fields reach for srcs in
// this org, so that the read before a write includes them and an
// unchanged record is not written again. A value that does not convert is
// left to the check that reports it.
func reached(fields []mapping.QuoteField, d *billsync.SObjectDescribe, srcs ...billsync.Entity) []string {
	var out []string
	for _, src := range srcs {
		as, _, _ := mapping.Apply(fields, src, fieldSet(d))
		for _, a := range as {
			if a.Wildcard {
				out = append(out, a.Salesforce)
			}
		}
	}
	return out
}

// itemSources are the items' customFields as line sources, for reached.
func itemSources(ent billsync.Entity) []billsync.Entity {
	var out []billsync.Entity
	for _, cf := range itemCustomFields(ent) {
		out = append(out, billsync.Entity{"customFields": cf})
	}
	return out
}

// dedupeFold keeps the first of names equal but for case (a SOQL select
// may not name a field twice).
func dedupeFold(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if k := strings.ToLower(s); !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}
