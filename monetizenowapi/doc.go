// Package monetizenowapi is billing.platform "monetizenow": MonetizeNow as
// a read-only source of quotes, which billsync syncs into Salesforce by
// the quote rules (Quote, lines, Opportunity, Opportunity products).
//
// What it speaks, from MonetizeNow's published API reference and its own
// client scripts: https://api.monetizeplatform.com/api/…, an x-api-key
// header, page-number lists ({content, totalPages, totalElements} with a
// 0-based currentPage and pageSize at most 100), quotes that carry their
// offerings and items inline, and webhooks that are not signed.
//
// Quotes are only read: every write, and every read of balances and
// transactions, is refused as unsupported. An account is read only for
// the Salesforce Account its quotes belong to (see Client.Get).
//
// Behaviours no public source confirms are PROVISIONAL and say so where
// they are relied on: the webhook body ({eventId, eventType, data}), an
// account's customId and an opportunity's customId being Salesforce ids,
// and what a REFERENCE offering is (taken to be an amendment's read-only
// snapshot of the contract, which would otherwise duplicate lines).
package monetizenowapi
