// Package stripe is a stateful Stripe stand-in (stripe-mock answers
// fixtures and keeps nothing): the part of Stripe's API that billsync
// uses, served under /v1 with Stripe's wire format, for tests,
// `billsync sandbox --billing stripe` and `billsync emulate stripe`.
//
// What it serves: the account, customers (deleted ones answer
// {"deleted":true}), customer balance transactions with real arithmetic,
// products, prices, quotes with their line items and state machine
// (draft → open → accepted | canceled), events and webhook endpoints.
// Requests are form-encoded with Stripe's bracket syntax; unknown
// parameters are refused with Stripe's error body; lists are newest first
// and paged with starting_after / ending_before, which stay valid while
// objects are created. Every POST may carry an Idempotency-Key: the same
// key and parameters replay the first answer, other parameters are an
// idempotency_error; keys live 24 hours.
//
// Events: every write emits Stripe's events for it and no others: no
// quote.updated (edits of a draft are silent) and none for balance
// transactions (a move of the default-currency balance shows as
// customer.updated with balance in previous_attributes). Each enabled
// webhook endpoint that wants an event gets it POSTed, signed with
// Stripe-Signature (t=…,v1=HMAC-SHA256 keyed with the whole whsec_
// secret over "<t>.<body>"), retried with backoff on a non-2xx for up to
// three days. Deliveries are not ordered, as Stripe's are not: several
// are in flight at once. PauseDelivery and Redeliver let tests decide an
// order or send a duplicate.
//
// Decisions where Stripe's behaviour is not published or not modelled:
//   - A customer's currency is set by its first balance transaction (or a
//     non-zero balance, in usd). invoice_credit_balance (credit positive,
//     per currency) is includable: served when expand[] names it. A
//     transaction in another currency than the customer's moves only
//     invoice_credit_balance and emits no event.
//   - Accepting a quote creates no subscription or invoice.
//   - A line amount is unit_amount_decimal × quantity rounded half away
//     from zero; there are no taxes or discounts.
//
// With Options.DataDir set, every change is journaled (emulate/journal)
// before it is answered, pending deliveries included, and New reloads it.
//
// It must not import the engine or any billsync package but the root and
// emulate/journal; it is a stand-in for a remote system.
package stripe
