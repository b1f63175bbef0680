// Package stripeapi makes Stripe a billing platform for billsync: Client
// implements billsync.Billing (customers as accounts, a customer's balance
// per currency as balances, customer balance transactions, quotes read
// only), billsync.TransactionScanner and billsync.BillingPoller; Webhooks
// verifies Stripe-Signature and decodes Stripe events into changes. It
// registers itself as billing.platform "stripe".
//
// It speaks Stripe's REST API with its own thin client (form bodies with
// bracket keys, JSON answers decoded into integers and decimal strings),
// because stripe-go's types carry some amounts as float64 and billsync
// never lets money pass through a float. stripe-go serves only for webhook
// signatures and its pinned API version.
//
// It must not decide anything about sync: it translates between Stripe's
// objects and billsync's entity shape, reports what Stripe answered as
// *billsync.RemoteError, and declares Stripe's capabilities; the engine
// acts on them.
package stripeapi
