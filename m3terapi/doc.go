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
