// Package httpserver is billsync's HTTP face: it receives billing webhooks
// (verify, decode, enqueue durably, then answer; a signed webhook refused
// as invalid is recorded in the sync log, outcome rejected), serves the
// admin API (settings, sync logs, dead letters, queue, conflicts, resync)
// to named tokens scoped read or admin (a route's scope follows from its
// method), health and readiness probes, and Prometheus metrics
// (NewMetrics, built before the server so the engine can report to them
// first).
//
// It must not apply changes itself: a webhook is only verified, decoded and
// committed to the queue, and a conflict resolution or a resync is handed
// to the engine (Config.Resolver, Config.Resyncer); the engine does the
// work. It must not know a billing platform's webhook format or signature
// scheme either: a WebhookDecoder brings both (billingapi.Webhooks for the
// billing contract), so this package never imports a billing client. Each
// route group takes only the part of the store it uses (Config), never the
// whole billsync.Store. It answers 2xx to a webhook only after the queue
// row is committed, never logs request bodies or tokens, and maps error
// codes to HTTP statuses in exactly one place (errorStatus), so internal
// failure details never reach a caller.
package httpserver
