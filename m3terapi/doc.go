// Package m3terapi makes m3ter a billing platform for billsync: Client
// implements billsync.Billing (accounts, balances, balance transactions),
// billsync.TransactionScanner and billsync.BillingPoller; Webhooks reads
// m3ter's notification deliveries as hints. It registers itself as
// billing.platform "m3ter".
//
// It speaks m3ter's REST API with its own small client, because m3ter's Go
// SDK is not on the module proxy billsync builds from and its structs carry
// money as float64, which billsync never lets money pass through: amounts
// are decoded as json.Number and carried as decimal strings.
//
// Settings: billing.url is the API base (default https://api.m3ter.com);
// billing.token is "<access key id>:<api secret>" of a service user;
// billing.options are orgId (required), serviceUserId (the id billsync's
// writes carry as lastModifiedBy, when users/me does not tell it),
// rateLimit (requests per second, default 10) and balanceAmount
// ("transaction", the default: a Salesforce edit of a balance's amount
// becomes a transaction for the difference; "unsupported": the amount is
// m3ter's alone). billing.webhookSecret is the token that ends the
// delivery URL (…/webhooks/m3ter/<token>): billsync's HTTP server checks
// it; this package checks no signature.
//
// What no public source confirms is marked PROVISIONAL where it is
// decided: the status of a stale version (409, or a 400 naming the
// version, both read as a conflict), the notification body (the event
// record, of which only the entity id is trusted), and that the users/me
// answer names the service user the access key belongs to.
//
// Like every adapter it decides nothing about sync: it translates between
// m3ter's objects and billsync's entity shape, reports what m3ter answered
// as *billsync.RemoteError, and declares m3ter's capabilities; the engine
// acts on them.
package m3terapi
