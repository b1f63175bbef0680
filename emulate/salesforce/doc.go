// Package salesforce is the Salesforce emulator: an in-process org that
// speaks Salesforce's wire protocol — OAuth 2.0 token grants (password,
// client credentials, JWT bearer), the REST data API (versions, describe,
// sObject CRUD and upsert by external id, sObject Collections, SOQL with
// paging), Sforce-Limit-Info accounting, and the Streaming API (CometD, via
// the streaming subpackage) — so that billsync and standard clients such as
// jsforce run against it unchanged.
//
// Its custom schema is loaded from the SFDX source in package
// github.com/billsync/billsync/sfdx, and it applies the
// BillingSyncTrigger rule exactly: writes by a user holding the
// BillsyncIntegration custom permission publish nothing; anyone else's
// writes to a triggered object set LastSystemToUpdate__c to sfdc and publish
// BillingObjectChange__e after the write; and its revision rule (SPEC D4):
// BillingSyncRevision__c starts at 0, goes up by one on every update by
// anyone but the integration user, and an integration update carrying a
// revision the record has moved past is refused, that record alone, with
// the handler's own STALE_REVISION text. SetBeforeWrite holds a write
// request at the point between a client's decision and its write. Every
// response shape is matched to a recorded or documented real one;
// testdata/SOURCES.md lists them.
//
// The standard sales objects carry the platform rules a quote sync trips
// over (pricing.go): required fields, a line's price book entry active and
// in its parent's price book (and, with Options.MultiCurrency, in its
// currency), standard prices before custom ones, derived and rolled-up
// amounts in exact decimals, and cascade deletes from Opportunity to its
// quotes and line items. SeedDemo loads a small catalogue for the sandbox
// and tests; ExpireSessions and DropStreams are hooks for fault injection.
// Who holds the custom permission can be asked as of a real org, over SOQL
// on PermissionSet, CustomPermission, SetupEntityAccess and
// PermissionSetAssignment (setup.go, read-only), answered from the source's
// permission sets and each user's PermissionSets.
//
// It must not import the engine or any billsync client: it stands in for
// the real org and knows nothing of who calls it. It is not a complete
// Salesforce: no SOAP, no Apex, no sharing model, and only the standard
// objects billsync touches.
package salesforce
