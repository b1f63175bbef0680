// Package monetizenow is a stateful stand-in for the part of MonetizeNow's
// API billsync reads (quotes, with their offerings and items, and the
// accounts they belong to), at MonetizeNow's paths, with its x-api-key
// auth, page-number lists and error body, and webhook delivery. It serves
// tests, `billsync sandbox --billing monetizenow` and `billsync emulate
// monetizenow`.
//
// What it serves, every request with the x-api-key header:
//   - GET /api/quotes and GET /api/accounts/{accountId}/quotes: lists of
//     {content, totalPages, totalElements}, 0-based currentPage, pageSize
//     at most 100, oldest first; filters status, type and contractId.
//   - POST /api/quotes, GET/PUT/DELETE /api/quotes/{quoteId}: a quote
//     with its quoteOfferings and their items inline. Only a DRAFT quote
//     changes or is deleted.
//   - PUT /api/quotes/{quoteId}/quoteOfferings/{quoteOfferingId}.
//   - POST /api/quotes/{quoteId}/review|send|accept|retract: the stage
//     transitions; accept takes mode PROCESS_AUTOMATICALLY (the default:
//     PROCESSED) or PAUSE_AT_ACCEPTED (ACCEPTED).
//   - POST/GET /api/accounts, GET /api/accounts/{accountId},
//     GET /api/accounts/customId/{customId}.
//
// Amounts are exact decimals: an item's amount is its quantity times its
// unit price (after discount when given), an offering's the sum of its
// items that are not REMOVED, a quote's the sum of its STANDARD offerings.
//
// Simplifications, documented so nobody takes them for MonetizeNow's
// behaviour: there are no approval rules (a quote in REVIEW may be sent);
// a create takes the type (NEW, AMENDMENT, RENEWAL) and links
// (originalQuoteId, previousQuoteId, contractId) from its body, where
// MonetizeNow makes amendments and renewals from a contract; an id in a
// create body is kept, so a test can name its items; SetStatus sets any
// status (APPROVED, DENIED, CANCELED, EXPIRED, …) as MonetizeNow's UI
// would.
//
// Webhooks: every change records an event and, when a webhook URL is
// set, POSTs it there, retried with backoff on a non-2xx. PROVISIONAL:
// the body is {eventId, userId, sentTime, eventType, data} with the
// record as data (a third-party summary of MonetizeNow's webhook page;
// the body is not published), and deliveries are unsigned (no signature
// is documented). Event types: quote.created, quote.updated,
// quote.accepted, quote.processed, quote.cancelled,
// quote.offering.updated, account.created, account.updated.
// PauseDelivery and Redeliver let tests decide an order or send a
// duplicate.
package monetizenow
