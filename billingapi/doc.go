// Package billingapi is billsync's client for a billing platform that speaks
// the billing contract of SPEC §5: Client implements billsync.Billing over
// the REST API of §5.1; Verifier checks the Standard Webhooks signature of
// §5.2 on incoming webhooks, and ParseWebhook reads their bodies into the
// changes billsync queues. Webhooks joins the two for the HTTP server, which
// knows neither format: the webhook wire format belongs to the platform's
// adapter, not to the domain.
//
// It must not decide anything about sync: it reports what the platform
// answered (every failure a *billsync.RemoteError carrying the platform's
// own error code, or a *billsync.Error for a refused webhook), turns a
// webhook into a change without judging it (the engine compares versions
// and decides), and declares the contract's capabilities; the engine acts
// on them. Money stays a decimal string end to end: responses and webhook
// bodies are decoded with UseNumber.
package billingapi
