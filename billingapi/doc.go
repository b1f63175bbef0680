// Package billingapi is billsync's client for a billing platform that speaks
// the billing contract of SPEC §5: Client implements billsync.Billing over
// the REST API of §5.1, and Verifier checks the Standard Webhooks signature
// of §5.2 on incoming webhooks.
//
// It must not decide anything about sync: it reports what the platform
// answered (every failure a *billsync.RemoteError carrying the platform's
// own error code, or a *billsync.Error for a refused webhook) and declares
// the contract's capabilities; the engine acts on them. Money stays a
// decimal string end to end: responses are decoded with UseNumber.
package billingapi
