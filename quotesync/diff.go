package quotesync

import (
	"encoding/json"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// differs reports whether writing want would change have, the record as
// Salesforce holds it, so that an unchanged line or product is not
// written (a write moves its LastModifiedDate and fires its automation).
// BillingLastSyncedAt__c alone is no reason to write. Numbers compare as
// decimals: the 12.5 Salesforce returns equals the "12.50" written.
func differs(want, have billsync.SObject) bool {
	for k, v := range want {
		if strings.EqualFold(k, mapping.FieldLastSyncedAt) {
			continue
		}
		if !sameValue(v, lookup(have, k)) {
			return true
		}
	}
	return false
}

// lookup reads a field the way Salesforce names it, whatever the case of
// the mapping's spelling.
func lookup(r billsync.SObject, field string) any {
	if v, ok := r[field]; ok {
		return v
	}
	for k, v := range r {
		if strings.EqualFold(k, field) {
			return v
		}
	}
	return nil
}

// sameValue compares a value to write with one read back. What quote sync
// writes as a number is a json.Number already rounded to the field's
// scale (or a Go integer), so comparing the decimals exactly is comparing
// them at that scale.
func sameValue(want, have any) bool {
	ws, hs := billsync.ValueString(want), billsync.ValueString(have)
	if ws == hs {
		return true
	}
	if !isNumber(want) || ws == "" || hs == "" {
		return false
	}
	a, errA := billsync.ParseNumber(ws)
	b, errB := billsync.ParseNumber(hs)
	return errA == nil && errB == nil && a.Equal(b)
}

func isNumber(v any) bool {
	switch v.(type) {
	case json.Number, int, int64, float64, billsync.Money:
		return true
	}
	return false
}
