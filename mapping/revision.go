package mapping

import (
	"errors"
	"strings"

	"github.com/billsync/billsync"
)

// Conditional writes to Salesforce (SPEC D4). Every synced object carries
// FieldRevision, which BillingSyncTrigger starts at 0 and raises by one on
// every edit by anyone but the integration user. billsync's updates carry
// the revision they were decided from; when the record has moved on, the
// trigger refuses that record with a message beginning StaleRevision, and
// billsync reads it again and reconciles.
const (
	FieldRevision = "BillingSyncRevision__c"
	StaleRevision = "BILLSYNC_STALE_REVISION"
	// staleCode is the status code Salesforce gives an Apex addError.
	staleCode = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
)

// AgreedRevision is the key of a SyncState's Agreed values that holds the
// Salesforce revision at which the record held exactly the agreed values;
// absent when billsync does not know one. While the record is still at
// that revision, its Salesforce values are the agreed ones, so billsync
// can write to it without reading it first. No billing path starts with
// "@" (Validate refuses one), so the key never meets a mapped field.
const AgreedRevision = "@salesforceRevision"

// Revision reads a record's revision in canonical form ("3"). An empty
// field counts as "0", as the trigger counts it: a record saved before the
// field existed.
func Revision(r billsync.SObject) string {
	c, _, err := Field{Billing: AgreedRevision, Kind: KindNumber}.Canonical(lookupFold(r, FieldRevision))
	if err != nil || c == "" {
		return "0"
	}
	return c
}

// RevisionValue is the value an update sends for a canonical revision.
func RevisionValue(rev string) any {
	return Field{Kind: KindNumber}.SalesforceValue(rev)
}

// IsStaleRevision reports whether err is Salesforce refusing a write
// because the record changed after the revision the write carried.
func IsStaleRevision(err error) bool {
	var re *billsync.RemoteError
	return errors.As(err, &re) && re.System == billsync.SystemSalesforce && re.Code == staleCode &&
		strings.HasPrefix(re.Message, StaleRevision)
}
